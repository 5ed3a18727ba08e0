from llmroute.cli import main

main()
