package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	stat := []byte("1234 (ctiws (x) y) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 9 0 100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	d, err := ParseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if d != 3800*time.Millisecond {
		t.Fatalf("CPU %v, want 3.8s (250+130 ticks)", d)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1 0"} {
		if _, err := ParseStatCPU([]byte(bad)); err == nil {
			t.Errorf("ParseStatCPU(%q) accepted", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := []byte("Name:\tctiws\nVmPeak:\t  900000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t  100000 kB\nThreads:\t9\n")
	rss, th, err := ParseStatus(status)
	if err != nil || rss != 123456*1024 || th != 9 {
		t.Fatalf("rss %d threads %d err %v", rss, th, err)
	}
	if _, _, err := ParseStatus([]byte("Name:\tkthreadd\nThreads:\t1\n")); err == nil {
		t.Fatal("no VmRSS accepted")
	}
	if _, _, err := ParseStatus([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("bad unit accepted")
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.Threads <= 0 || s.CPU < 0 {
		t.Fatalf("implausible sample %+v", s)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("a missing process was read")
	}
}

func TestParseMachineCPU(t *testing.T) {
	tests := []struct {
		name        string
		stat        string
		busy, total time.Duration
		wantErr     bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{"ten fields", "cpu  100 0 50 800 50 0 0 0 30 0\ncpu0 1 2 3\n", 1500 * time.Millisecond, 10 * time.Second, false},
		{"old kernel, four fields", "cpu 10 0 10 80\n", 200 * time.Millisecond, time.Second, false},
		{"not the aggregate line", "cpu0 1 2 3 4\n", 0, 0, true},
		{"garbage field", "cpu 1 x 3 4 5\n", 0, 0, true},
		{"empty", "", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			busy, total, err := ParseMachineCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if busy != tt.busy || total != tt.total {
				t.Fatalf("busy, total = %v, %v; want %v, %v", busy, total, tt.busy, tt.total)
			}
		})
	}
}
