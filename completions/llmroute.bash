# bash completion for llmroute; load with: source <(llmroute completion bash)
_llmroute_completion() {
    local IFS=$'\n' item
    local -a response
    COMPREPLY=()
    response=($(env _LLMROUTE_COMPLETE=complete_bash \
        _LLMROUTE_COMPLETE_LINE="${COMP_LINE:0:COMP_POINT}" _LLMROUTE_COMPLETE_WORD="$2" "$1" 2>/dev/null))
    for item in "${response[@]}"; do
        case ${item%%,*} in
            plain) COMPREPLY+=("${item#*,}") ;;
            file) COMPREPLY=(); compopt -o default 2>/dev/null; return 0 ;;
        esac
    done
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *: ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}

complete -F _llmroute_completion llmroute
