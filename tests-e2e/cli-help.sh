#!/bin/bash
# The CLI's help and version: every flag of `run` and `usernet` is listed (exactly the set
# below: a new flag must be added here, and so gets its help reviewed), every option's help
# states its default, help is the same however it is asked for, and the version is printed
# the same way by `sandbox version` and `sandbox --version`.
source "$(dirname "$0")/lib/launcher-common.bash"

# help_flags TEXT: the long flags that start an option entry, sorted, one line.
help_flags() { grep -oE '^  (-[a-z], )?--[a-z-]+' <<<"$1" | grep -oE -- '--[a-z-]+' | sort | tr '\n' ' ' | sed 's/ $//'; }

# undocumented_defaults TEXT: the option entries (flag and its wrapped description) whose
# help does not state a default; -h/--help and --version have none to state.
undocumented_defaults() {
    awk '
        function check() { if (entry != "" && entry !~ /(--help|--version)/ && tolower(entry) !~ /default|required/) print flag }
        /^  -/ { check(); entry = $0; match($0, /--[a-z-]+/); flag = substr($0, RSTART, RLENGTH); next }
        /^                          / && entry != "" { entry = entry " " $0; next }
        { check(); entry = "" }
        END { check() }
    ' <<<"$1" | tr '\n' ' ' | sed 's/ $//'
}

RUN_FLAGS="--add-host --allow --allow-domain --allow-host-loopback --allow-link-local --cidr --cpus --deny --detach --dispatch --dns --dns-option --dns-search --env --env-file --flow-memory --group-add --help --hostname --interactive --log-connections --log-format --log-level --max-flows --memory --mount --mtu --name --net --net-delay --net-duplicate --net-loss --net-rate --net-reorder --net-seed --network --network-alias --pcap --pids-limit --publish --read-only --rm --rootfs --seccomp --stop-timeout --tmpfs --tty --udp-timeout --ulimit --user --userns --version --volume --workdir --writable-root"
GATEWAY_FLAGS="--allow --allow-domain --allow-host-loopback --allow-link-local --cidr --deny --dispatch --dns --flow-memory --log-connections --max-flows --mtu --pcap --publish --udp-timeout"
USERNET_FLAGS=$(tr ' ' '\n' <<<"$GATEWAY_FLAGS --help --interface --log-format --log-level --net-delay --net-duplicate --net-loss --net-rate --net-reorder --net-seed --netns --version" | sort | tr '\n' ' ' | sed 's/ $//')

# The README's flag table names every flag of run (--help and --version aside).
expect_eq "the README's table names every run flag" "" \
    "$(for flag in $RUN_FLAGS; do [ "$flag" = --help ] || [ "$flag" = --version ] || grep -q -- "^| .*\`[^\`]*$flag\b" "$HERE/../README.md" || echo "$flag"; done | tr '\n' ' ')"
run_help=$("$SANDBOX" run --help); expect_eq "run --help exits 0" 0 $?
expect_eq "run --help lists exactly run's flags" "$RUN_FLAGS" "$(help_flags "$run_help")"
expect_eq "run --help states every default" "" "$(undocumented_defaults "$run_help")"
expect_eq "run -h is run --help" "$run_help" "$("$SANDBOX" run -h)"
expect_eq "help run is run --help" "$run_help" "$("$SANDBOX" help run)"
expect_eq "--help after an option is run --help" "$run_help" "$("$SANDBOX" run --net=none --help)"
expect_match "run --help gives the usage" "USAGE: sandbox run \[OPTIONS\] \[--\] CMD" "$run_help"
expect_match "run --help gives the exit statuses" "125 when the sandbox" "$run_help"
expect_eq "run --help shows its flags in groups" \
    "ARGUMENTS:|ISOLATION:|FILE SYSTEM:|PROGRAM:|RESOURCES:|NAMES AND DNS (--NET=USER):|DETACHED SANDBOXES:|LOGGING:|USER-MODE NETWORK (--NET=USER):|LINK FAULTS (--NET=USER):|OPTIONS:" \
    "$(grep -E '^[A-Z][A-Z ()=-]*:$' <<<"$run_help" | tr '\n' '|' | sed 's/|$//')"
expect_match "run --help: --memory under RESOURCES" "RESOURCES:
  --memory" "$run_help"

usernet_help=$("$SANDBOX" usernet --help); expect_eq "usernet --help exits 0" 0 $?
expect_eq "usernet --help lists exactly usernet's flags" "$USERNET_FLAGS" "$(help_flags "$usernet_help")"
expect_eq "usernet --help states every default" "" "$(undocumented_defaults "$usernet_help")"
expect_eq "help usernet is usernet --help" "$usernet_help" "$("$SANDBOX" help usernet)"

top_help=$("$SANDBOX" --help); expect_eq "--help exits 0" 0 $?
for sub in run usernet version; do
    expect_match "--help lists the $sub subcommand" "
  $sub  " "$top_help"
done
expect_match "--help lists --version" "--version" "$top_help"
expect_eq "help is --help" "$top_help" "$("$SANDBOX" help)"
# The examples in the top-level help run as shown (those that need no program of ours).
expect_eq "top-level help example: id" "uid=0(root) gid=0(root) groups=0(root)" \
    "$("$SANDBOX" run -- sh -c 'id; hostname; ip addr' | head -n 1)"
expect_match "top-level help example: a read-only volume with limits" "Package.swift" \
    "$(cd "$HERE/.." && "$SANDBOX" run --net=none --memory 512m --pids-limit 100 -v "$PWD:/tmp/src:ro" -- ls /tmp/src)"

version=$("$SANDBOX" version); expect_eq "version exits 0" 0 $?
expect_match "version: name, semantic version, Swift version" "^sandbox [0-9]+\.[0-9]+\.[0-9]+[-+.a-z0-9]* \(Swift [0-9]+\.[0-9]+( or later)?\)$" "$version"
expect_eq "--version is version" "$version" "$("$SANDBOX" --version)"; expect_eq "--version exits 0" 0 $?
expect_eq "run --version is version" "$version" "$("$SANDBOX" run --version)"
expect_eq "usernet --version is version" "$version" "$("$SANDBOX" usernet --version)"
expect_eq "version --help exits 0" 0 "$("$SANDBOX" version --help >/dev/null; echo $?)"
"$SANDBOX" version extra >/dev/null 2>&1; expect_eq "version with an argument -> 125" 125 $?

# Messages: one "sandbox:" prefix, a suggestion for a misspelt command, negative numbers read
# as values (and refused by their own rule), no empty line after a usernet error.
out=$("$SANDBOX" runn -- true 2>&1); rc=$?
expect_eq "misspelt command -> 125" 125 $rc
expect_match "misspelt command: did you mean" "^sandbox: unknown command 'runn'; did you mean 'run'\?" "$out"
expect_eq "one sandbox: prefix, no Error:" "0" "$(grep -c 'Error:' <<<"$("$SANDBOX" frobnicate 2>&1)")"
expect_match "a negative --pids-limit is a value, refused by its range" "^sandbox: bad --pids-limit -5: use a whole number" \
    "$("$SANDBOX" run --pids-limit -5 -- true 2>&1)"
expect_match "a negative --mtu is a value" "^sandbox: --mtu -1: must be within" "$("$SANDBOX" run --mtu -1 -- true 2>&1)"
out=$("$SANDBOX" usernet --netns not-a-namespace 2>&1); rc=$?
expect_eq "usernet error -> 125" 125 $rc
expect_eq "usernet error: one line" "sandbox usernet: bad --netns not-a-namespace: expected a namespace file path or a pid" "$out"
out=$("$SANDBOX" run --allow-domain 'foo.*.example' --deny all -- true 2>&1); rc=$?
expect_eq "malformed --allow-domain -> 125" 125 $rc
expect_match "malformed --allow-domain names the flag and why" "--allow-domain 'foo\.\*\.example': '\*' may only be the whole first label" "$out"
# docker's habits: -i, -it and --rm are accepted (stdin is always the program's; a run keeps nothing).
expect_eq "-i passes stdin" "piped" "$(echo piped | "$SANDBOX" run -i --rm --net=none -- cat 2>&1)"
expect_eq "-it and --rm are accepted" "0" "$("$SANDBOX" run -it --rm --net=none -- true </dev/null >/dev/null 2>&1; echo $?)"
# --env-file (docker's format) and --add-host (host-gateway: the gateway's addresses).
printf 'A=1\n# a comment\n\nB=two words\nC="kept"\n' >"$WORK/env"
expect_eq "--env-file, --env wins" '9|two words|"kept"' "$("$SANDBOX" run --net=none --env-file "$WORK/env" -e A=9 -- sh -c 'echo "$A|$B|$C"')"
printf 'BAD LINE=\n' >"$WORK/env-bad"
expect_match "--env-file names the line" "bad --env-file .*env-bad line 1" "$("$SANDBOX" run --net=none --env-file "$WORK/env-bad" -- true 2>&1)"
hosts=$("$SANDBOX" run --add-host db:192.0.2.9 --add-host gw:host-gateway --add-host v6:[2001:db8::5] -- cat /etc/hosts)
expect_match "--add-host NAME:IP" "192\.0\.2\.9 db" "$hosts"
expect_match "--add-host NAME:host-gateway" "10\.0\.2\.2 gw.fd00::2 gw" "$(tr '\n' ' ' <<<"$hosts")"
expect_match "--add-host with IPv6 in brackets" "2001:db8::5 v6" "$hosts"
"$SANDBOX" run --net=none --add-host x:1.2.3.4 -- true 2>/dev/null; expect_eq "--add-host needs --net=user -> 125" 125 $?
expect_match "bad --add-host says the form" "expected NAME:IP" "$("$SANDBOX" run --add-host bad -- true 2>&1)"
# resolv.conf: the host's search and options carried over; --dns-search / --dns-option replace them.
host_search=$(awk '$1 == "search" {line = $0} END {print line}' /etc/resolv.conf)
resolv=$("$SANDBOX" run -- cat /etc/resolv.conf)
if [ -n "$host_search" ]; then expect_match "the host's search domains carried over" "$host_search" "$resolv"; else ok; fi
resolv=$("$SANDBOX" run --dns-search a.example --dns-search b.example --dns-option ndots:2 -- cat /etc/resolv.conf)
expect_match "--dns-search" "search a\.example b\.example" "$resolv"
expect_match "--dns-option" "options ndots:2" "$resolv"
expect_eq "--dns-search . leaves none" "0" "$("$SANDBOX" run --dns-search . -- grep -c '^search' /etc/resolv.conf)"
expect_match "a bad --dns-search is refused" "bad --dns-search a b" "$("$SANDBOX" run --dns-search 'a b' -- true 2>&1)"
# version --json: the same version, as JSON, with the runtime-spec version of the OCI commands.
json=$("$SANDBOX" version --json)
expect_eq "version --json parses, with the version of version" "$("$SANDBOX" version | awk '{print $2}')" \
    "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["version"])' "$json")"
expect_match "version --json has ociVersion" '"ociVersion":"1\.[0-9]+\.[0-9]+"' "$json"
# completion: a script for each shell that knows the commands; another shell is refused.
for shell in bash zsh fish; do
    expect_match "completion $shell knows run and exec" "run.*exec|exec.*run" "$("$SANDBOX" completion $shell | tr '\n' ' ')"
done
"$SANDBOX" completion tcsh >/dev/null 2>&1; expect_eq "completion of an unknown shell: 125" 125 $?
# make install PREFIX=...: the binary and the three completion scripts (no build: it installs
# the binary under test).
make -s -C "$HERE/.." install PREFIX="$WORK/prefix" SANDBOX_DIR="$(cd "$BIN" && pwd)" >/dev/null
for file in bin/sandbox share/bash-completion/completions/sandbox share/zsh/site-functions/_sandbox \
    share/fish/vendor_completions.d/sandbox.fish; do
    [ -s "$WORK/prefix/$file" ] && ok || bad "make install did not put $file"
done
expect_eq "the installed binary runs" "$("$SANDBOX" version)" "$("$WORK/prefix/bin/sandbox" version)"
# The manual: a page per command, generated from the parser, so every flag of run is in it.
page="$WORK/prefix/share/man/man1/sandbox.run.1"
for command in sandbox sandbox.run sandbox.usernet sandbox.create sandbox.exec sandbox.ps; do
    [ -s "$WORK/prefix/share/man/man1/$command.1" ] && ok || bad "make install did not put the $command page"
done
expect_eq "the run page names every flag of run" "" \
    "$(for flag in $RUN_FLAGS; do grep -q -- "^\.It Fl .*${flag#-}\b" "$page" 2>/dev/null || [ "$flag" = --help ] || [ "$flag" = --version ] || echo "$flag"; done | tr '\n' ' ')"
finish
