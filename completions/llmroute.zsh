#compdef llmroute

_llmroute_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _LLMROUTE_COMPLETE=complete_zsh llmroute)
}

compdef _llmroute_completion llmroute
