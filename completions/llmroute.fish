# fish completion for llmroute; load with: llmroute completion fish | source
function _llmroute_completion
    set -l response (env _LLMROUTE_COMPLETE=complete_fish COMP_WORDS=(commandline -cp) COMP_CWORD=(commandline -ct) \
        llmroute 2>/dev/null)
    for item in $response
        set -l field (string split -m 1 , -- $item)
        switch $field[1]
            case plain
                echo $field[2]
            case file
                __fish_complete_path (commandline -ct)
        end
    end
end

complete --command llmroute --no-files --arguments "(_llmroute_completion)"
