# Progress lines for the long waits of the scripts (sourced, not run): a download and the wait
# for Keycloak's readiness print a line every PROGRESS_EVERY seconds (default 10), so that a
# first run is never minutes of silence.
#
# The clock is `date +%s` and the pause `sleep 1`, looked up on PATH like any command, so a test
# can put stubs of both first on PATH and see every line of a long wait at once.
#
#   progress_wait <label> <timeout s, 0 = none> <detail function or -> <check command...>

PROGRESS_EVERY=${PROGRESS_EVERY:-10}

# Runs <check command...> once a second until it succeeds (status 0), or until <timeout> seconds
# have passed (status 1). Every PROGRESS_EVERY seconds of waiting it prints
# "<label>, <n> s so far", followed by ", <what the detail function prints>" unless it is "-".
progress_wait() {
    local label=$1 timeout=$2 detail=$3 t0 waited next=$PROGRESS_EVERY line
    shift 3
    t0=$(date +%s)
    until "$@"; do
        waited=$(($(date +%s) - t0))
        ((timeout > 0 && waited >= timeout)) && return 1
        if ((waited >= next)); then
            line="$label, $waited s so far"
            [[ $detail == - ]] || line+=", $("$detail")"
            printf '%s\n' "$line"
            # The next multiple of PROGRESS_EVERY: one line per period even when a check is slow.
            next=$(((waited / PROGRESS_EVERY + 1) * PROGRESS_EVERY))
        fi
        sleep 1
    done
}
