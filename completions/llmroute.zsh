#compdef llmroute
# zsh completion for llmroute; load with: source <(llmroute completion zsh)
# or save it as _llmroute in a directory of $fpath

_llmroute_completion() {
    local -a response plain described prefixes
    local type key descr
    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \
        _LLMROUTE_COMPLETE=complete_zsh llmroute 2>/dev/null)}")
    for type key descr in "${response[@]}"; do
        if [[ $type == plain ]]; then
            if [[ $descr != _ ]]; then
                described+=("$key:$descr")
            elif [[ $key == *: ]]; then
                prefixes+=("$key")
            else
                plain+=("$key")
            fi
        elif [[ $type == file ]]; then
            _path_files -f
        fi
    done
    (( ${#described} )) && _describe -V unsorted described -U
    (( ${#prefixes} )) && compadd -U -S '' -V unsorted -a prefixes
    (( ${#plain} )) && compadd -U -V unsorted -a plain
    return 0
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _llmroute_completion "$@"
else
    compdef _llmroute_completion llmroute
fi
