#!/bin/bash
# Write a man page whose body is a program's own --help text, so that the
# page and the help never disagree.
#   scripts/manpage.sh PROGRAM SECTION "one-line summary" > PROGRAM.SECTION
set -euo pipefail
prog=$1 section=$2 summary=$3
name=$(basename "$prog")
help=$("$prog" --help)
version=$("$prog" --version 2>/dev/null | head -1 || true)

printf '.TH %s %s "" "%s" "xlb"\n' "${name^^}" "$section" "${version:-$name}"
printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
printf '.SH DESCRIPTION\n.nf\n'
# roff: a backslash is \e; a line starting with . or ' would be a request
sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" <<<"$help"
printf '.fi\n.SH SEE ALSO\n'
case $name in
xlbd) printf 'xlbctl(1), xlb-k8s(8); the DaemonSet in share/xlb/xlbd-daemonset.yaml\n' ;;
*) printf 'xlbd(8)\n' ;;
esac
