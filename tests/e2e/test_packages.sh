#!/usr/bin/env bash
# Debian packages for real: `cpack -G DEB` from this build directory, then dpkg-deb -c and
# dpkg -I of each package (exact file list, conffiles, maintainer scripts, shlibdeps
# dependencies that this machine satisfies), the packages extracted into a throwaway root
# with dpkg-deb -x and the extracted programs run (--help, --version, every shared library
# found), and every long option of each program's --help (and of each prescient-replay
# command's) present in its packaged man page, which groff renders without warnings.
# Nothing is installed on this machine.
set -euo pipefail

build=${PSC_BUILD_DIR:?}
for t in cpack dpkg-deb dpkg-query groff; do
	if ! command -v $t >/dev/null; then
		echo "SKIP: $t not installed (deploy/setup installs it)"
		exit 77
	fi
done
if [ ! -f "$build/CPackConfig.cmake" ]; then
	echo "SKIP: $build has no CPackConfig.cmake"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in CPackConfig.cmake"
arch=$(dpkg --print-architecture)
(cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) ||
	fail "cpack failed: $(tail -20 "$tmp/cpack.log")"
ls "$tmp/pkg"/*.deb >/dev/null 2>&1 || fail "cpack made no .deb: $(tail -5 "$tmp/cpack.log")"
[ "$(ls "$tmp/pkg"/*.deb | wc -l)" = 2 ] || fail "expected 2 packages: $(ls "$tmp/pkg"/*.deb)"

# package, then its regular files, exactly
expect_files() {
	case $1 in
	prescient-agent) printf '%s\n' ./etc/prescient/agent.conf \
		./lib/systemd/system/prescient-agent.service ./usr/sbin/prescient-agent \
		./usr/share/man/man8/prescient-agent.8 ;;
	prescient-aggregator) printf '%s\n' ./etc/prescient/aggregator.conf \
		./lib/systemd/system/prescient-aggregator.service ./usr/bin/prescient-aggregator \
		./usr/bin/prescient-replay ./usr/share/man/man1/prescient-replay.1 \
		./usr/bin/prescientctl ./usr/share/man/man1/prescientctl.1 \
		./usr/share/man/man8/prescient-aggregator.8 ;;
	esac
}
root=$tmp/root
for pkg in prescient-agent prescient-aggregator; do
	deb=$tmp/pkg/${pkg}_${version}_${arch}.deb
	[ -f "$deb" ] || fail "no $deb: $(ls "$tmp/pkg")"
	dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort >"$tmp/files"
	expect_files $pkg | sort >"$tmp/want"
	diff -u "$tmp/want" "$tmp/files" >"$tmp/diff" || fail "$pkg contents: $(cat "$tmp/diff")"
	dpkg-deb -c "$deb" | awk '$6 ~ /^\.\/usr\/s?bin\/./ && $1 != "-rwxr-xr-x" { print }' >"$tmp/bad"
	[ ! -s "$tmp/bad" ] || fail "$pkg: programs not 0755: $(cat "$tmp/bad")"

	dpkg -I "$deb" >"$tmp/info" || fail "dpkg -I $deb"
	[ "$(dpkg-deb -f "$deb" Package)" = $pkg ] || fail "$deb is not $pkg"
	[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "$pkg version"
	[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$pkg architecture"
	dpkg-deb -e "$deb" "$tmp/ctl-$pkg"
	conf=/etc/prescient/${pkg#prescient-}.conf
	[ "$(cat "$tmp/ctl-$pkg/conffiles")" = "$conf" ] || fail "$pkg conffiles: $(cat "$tmp/ctl-$pkg/conffiles")"
	for s in postinst postrm; do
		[ -x "$tmp/ctl-$pkg/$s" ] || fail "$pkg $s not executable"
		sh -n "$tmp/ctl-$pkg/$s" || fail "$pkg $s: syntax"
	done

	# shlibdeps: the libraries the programs link, each satisfied on this machine.
	depends=$(dpkg-deb -f "$deb" Depends)
	for lib in libc6 libnanomsg5 libsodium23 libprotobuf-c1 libjansson4; do
		[[ "$depends" == *"$lib "* ]] || fail "$pkg does not depend on $lib: $depends"
	done
	case $pkg in
	prescient-agent) extra="libbpf1" ;;
	prescient-aggregator) extra="libsqlite3-0 libmicrohttpd12 libcurl4" ;;
	esac
	for lib in $extra; do
		[[ "$depends" == *"$lib "* ]] || fail "$pkg does not depend on $lib: $depends"
	done
	echo "$depends" | tr ',' '\n' | while read -r dep; do
		name=${dep%% *}
		have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null) ||
			fail "$pkg needs $name, not installed here"
		if [[ "$dep" =~ \(\>=\ ([^\)]*)\) ]]; then
			dpkg --compare-versions "$have" ge "${BASH_REMATCH[1]}" ||
				fail "$pkg needs $dep, this machine has $have"
		fi
	done
	echo "$pkg $version: $(wc -l <"$tmp/files") files, $(stat -c %s "$deb") bytes, Depends: $depends"
	dpkg-deb -x "$deb" "$root"
done

# The extracted programs run, and say the package's version.
for p in usr/sbin/prescient-agent usr/bin/prescient-aggregator usr/bin/prescient-replay \
	usr/bin/prescientctl; do
	bin=$root/$p
	if ldd "$bin" | grep -q 'not found'; then
		fail "$p: $(ldd "$bin" | grep 'not found')"
	fi
	"$bin" --help >"$tmp/help" 2>&1 || fail "$p --help failed: $(head -3 "$tmp/help")"
	grep -q '^Usage: ' "$tmp/help" || fail "$p --help: $(head -3 "$tmp/help")"
	[ "$("$bin" --version)" = "$(basename $p) $version" ] || fail "$p --version: $("$bin" --version)"
done
echo "extracted programs: --help and --version work, all libraries found"

# The packaged config files through each program's own option parser: options from the
# file come before --help, so every key and value is checked before --help exits 0; with
# every default uncommented too; a bad key is refused naming its line.
for p in usr/sbin/prescient-agent usr/bin/prescient-aggregator; do
	bin=$root/$p
	name=$(basename $p)
	conf=$root/etc/prescient/${name#prescient-}.conf
	# (not `--help | grep -q`: under pipefail, grep exiting at its match before the help's
	# second write made the pipeline fail and skipped this check about a third of the time)
	"$bin" --help >"$tmp/help" 2>&1 || fail "$name --help failed"
	grep -q -- '--config' "$tmp/help" || fail "$name --help does not document --config"
	"$bin" --config "$conf" --help >/dev/null 2>"$tmp/err" ||
		fail "$name refuses its packaged $(basename "$conf"): $(cat "$tmp/err")"
	sed 's/^# \([a-z][a-z0-9-]* =\)/\1/' "$conf" >"$tmp/all.conf"
	chmod 0644 "$tmp/all.conf"
	"$bin" --config "$tmp/all.conf" --help >/dev/null 2>"$tmp/err" ||
		fail "$name refuses the documented defaults of $(basename "$conf"): $(cat "$tmp/err")"
	printf 'log-level = info\nno-such-key = 1\n' >"$tmp/bad.conf"
	chmod 0644 "$tmp/bad.conf"
	rc=0
	"$bin" --config "$tmp/bad.conf" --help >/dev/null 2>"$tmp/err" || rc=$?
	[ $rc = 2 ] && grep -qF "$tmp/bad.conf:2" "$tmp/err" ||
		fail "$name: an unknown key gives exit $rc and '$(cat "$tmp/err")', not 2 and its file:line"
	echo "config: $name accepts its packaged $(basename "$conf") and every default in it"
done

# Every long option of --help in the man page, which renders cleanly.
long_opts() { # program [command]: long options its --help lists
	"$@" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u
}
man_failures=
check_man() { # man-page program [command]: records options the man page lacks
	local man=$1 opts o missing=
	shift
	opts=$(long_opts "$@")
	[ -n "$opts" ] || fail "$* --help lists no long option"
	for o in $opts; do
		# troff source: \-\-name (hyphens inside the name escaped or not) or --name
		grep -qF -- "\\-\\-${o#--}" "$man" || grep -qF -- "$(echo "$o" | sed 's/-/\\-/g')" "$man" ||
			grep -qwF -- "$o" "$man" || missing="$missing $o"
	done
	if [ -n "$missing" ]; then
		echo "MISSING: $(basename "$man") does not document$missing (from $(basename "$1") ${2:-}--help)"
		man_failures="$man_failures $(basename "$man")"
		return
	fi
	echo "$(basename "$man"): documents all $(echo "$opts" | wc -l) long options of $(basename "$1") ${2:-}"
}
man8=$root/usr/share/man/man8
man1=$root/usr/share/man/man1
check_man "$man8/prescient-agent.8" "$root/usr/sbin/prescient-agent"
check_man "$man8/prescient-aggregator.8" "$root/usr/bin/prescient-aggregator"
check_man "$man1/prescient-replay.1" "$root/usr/bin/prescient-replay"
commands=$("$root/usr/bin/prescient-replay" --help |
	sed -n '/^Commands:/,/^$/ s/^  \([a-z]\+\) .*/\1/p')
[ "$(echo "$commands" | wc -w)" -ge 5 ] || fail "prescient-replay --help lists commands: '$commands'"
for c in $commands; do
	grep -q "^\.SS $c " "$man1/prescient-replay.1" || fail "prescient-replay.1 has no section for $c"
	check_man "$man1/prescient-replay.1" "$root/usr/bin/prescient-replay" "$c"
done
# prescientctl: its options and every command's, each command with its own section.
check_man "$man1/prescientctl.1" "$root/usr/bin/prescientctl"
commands=$("$root/usr/bin/prescientctl" --help | sed -n '/^Commands:/,/^$/ s/^  \([a-z]\+\).*/\1/p')
[ "$(echo "$commands" | wc -w)" = 7 ] || fail "prescientctl --help lists commands: '$commands'"
for c in $commands; do
	grep -q "^\.SS $c\b" "$man1/prescientctl.1" || fail "prescientctl.1 has no section for $c"
	check_man "$man1/prescientctl.1" "$root/usr/bin/prescientctl" "$c"
done
for m in "$man8/prescient-agent.8" "$man8/prescient-aggregator.8" "$man1/prescient-replay.1" \
	"$man1/prescientctl.1"; do
	out=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
	[ -z "$out" ] || fail "groff warns on $(basename "$m"): $out"
done
[ -z "$man_failures" ] || fail "man pages out of date with --help:$man_failures"
echo "packages: all checks passed"
