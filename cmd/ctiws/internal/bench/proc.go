package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is the CPU time and memory of one process at one moment.
type ProcSample struct {
	// CPU is user plus system time.
	CPU time.Duration
	// RSS is the resident set size (VmRSS) in bytes.
	RSS int64
	// Threads is the number of OS threads.
	Threads int
}

// ReadProc samples /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read stat: %w", err)
	}
	cpu, err := ParseStatCPU(stat)
	if err != nil {
		return ProcSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read status: %w", err)
	}
	rss, threads, err := ParseStatus(status)
	if err != nil {
		return ProcSample{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return ProcSample{CPU: cpu, RSS: rss, Threads: threads}, nil
}

// ParseStatCPU returns utime+stime from the contents of /proc/<pid>/stat.
// The command name (field 2) may contain spaces and parentheses, so fields
// are counted from the last ')'.
func ParseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' after the command name")
	}
	// After ") " come fields 3 (state) onwards; utime is field 14, stime 15.
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name", len(f))
	}
	ut, err := strconv.ParseUint(string(f[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", f[11], err)
	}
	st, err := strconv.ParseUint(string(f[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", f[12], err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// ParseStatus returns VmRSS (bytes) and Threads from the contents of
// /proc/<pid>/status.
func ParseStatus(status []byte) (rss int64, threads int, err error) {
	foundRSS := false
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "VmRSS":
			f := bytes.Fields(v)
			if len(f) != 2 || string(f[1]) != "kB" {
				return 0, 0, fmt.Errorf("VmRSS %q: want \"<n> kB\"", v)
			}
			kb, perr := strconv.ParseInt(string(f[0]), 10, 64)
			if perr != nil {
				return 0, 0, fmt.Errorf("VmRSS %q: %w", v, perr)
			}
			rss, foundRSS = kb*1024, true
		case "Threads":
			n, perr := strconv.Atoi(string(bytes.TrimSpace(v)))
			if perr != nil {
				return 0, 0, fmt.Errorf("Threads %q: %w", v, perr)
			}
			threads = n
		}
	}
	if !foundRSS {
		return 0, 0, fmt.Errorf("no VmRSS line (process gone or a kernel thread)")
	}
	return rss, threads, nil
}

// MachineCPU returns the busy and total CPU time of the whole machine,
// summed over its CPUs, from /proc/stat (busy = total − idle − iowait).
func MachineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	return ParseMachineCPU(b)
}

// ParseMachineCPU parses the aggregate "cpu" line of /proc/stat.
func ParseMachineCPU(stat []byte) (busy, total time.Duration, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line is not the aggregate cpu line")
	}
	var sum, idle uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		sum += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(sum-idle) * tick, time.Duration(sum) * tick, nil
}
