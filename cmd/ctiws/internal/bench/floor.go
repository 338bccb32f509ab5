package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The floor scenario measures what delivering one frame costs on this
// machine with no ctiws at all: a writer process (the same executable,
// `ctiws bench -floor-writer`) accepts N loopback TCP connections and, R
// rounds per second, writes one frame to each of them, sharded over one
// goroutine per CPU; the bench process reads them like the load client
// does. Writer CPU per frame is the least a node can spend per delivery
// (the kernel's loopback path charges the sender for the receiver's TCP
// work too), and the latency figures are what the kernel and the
// scheduler alone add at that socket count and rate.

// FloorResult is one floor measurement.
type FloorResult struct {
	Clients        int     `json:"clients"`
	Rate           float64 `json:"rounds_per_second"`
	FrameBytes     int     `json:"frame_bytes"`
	Seconds        float64 `json:"seconds"`
	Delivered      uint64  `json:"delivered"`
	WriterCPUSec   float64 `json:"writer_cpu_seconds"`
	CPUUsPerWrite  float64 `json:"cpu_us_per_write"`
	WriterCores    float64 `json:"writer_cores"`
	LoadCores      float64 `json:"load_client_cores"`
	MachineBusyPct float64 `json:"machine_busy_pct"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
}

// floorFrameBytes matches the size of a bench extenUpdate frame.
const floorFrameBytes = 800

// FloorWriter is the writer process of the floor scenario. It listens on
// loopback, prints "listening <addr>" on out, accepts n connections, then
// writes rounds of frames (each starting with its write time in Unix
// nanoseconds) until ctx ends or stdin is closed.
func FloorWriter(ctx context.Context, n int, rate float64, out io.Writer) error {
	if n <= 0 || rate <= 0 {
		return fmt.Errorf("floor writer: want positive clients and rate, got %d and %g", n, rate)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("floor writer: listen: %w", err)
	}
	defer ln.Close()
	if _, err := fmt.Fprintf(out, "listening %s\n", ln.Addr()); err != nil {
		return err
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for len(conns) < n {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("floor writer: accept: %w", err)
		}
		conns = append(conns, c)
	}
	shards := runtime.GOMAXPROCS(0)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	frame := make([]byte, floorFrameBytes)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		binary.BigEndian.PutUint64(frame, uint64(time.Now().UnixNano()))
		var wg sync.WaitGroup
		for s := range shards {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := s; i < len(conns); i += shards {
					if _, err := conns[i].Write(frame); err != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}

// floor runs the writer process and reads its frames for one window.
func (b *runner) floor(ctx context.Context, name string, n int, rate float64, dur time.Duration) Result {
	res := Result{Name: name}
	fr, err := b.runFloor(ctx, n, rate, dur)
	if err != nil {
		res.Error = err.Error()
	}
	res.Floor = fr
	return res
}

func (b *runner) runFloor(ctx context.Context, n int, rate float64, dur time.Duration) (*FloorResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.o.Binary, "bench", "-floor-writer", "-clients", fmt.Sprint(n), "-rate", fmt.Sprint(rate))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // closing it ends the writer
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start floor writer: %w", err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		return nil, fmt.Errorf("floor writer did not report its address (got %q): %v", line, err)
	}
	var h Histogram
	var delivered atomic.Uint64
	var measuring atomic.Bool
	var wg sync.WaitGroup
	defer wg.Wait()
	conns := make([]net.Conn, 0, n)
	defer func() { // runs before wg.Wait: the readers end on the closed sockets
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	var d net.Dialer
	for range n {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial floor writer: %w", err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, floorFrameBytes)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if measuring.Load() {
					h.Record(time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(buf)))))
					delivered.Add(1)
				}
			}
		}()
	}
	b.log.Info("floor: connected", "clients", n, "rounds_per_second", rate)
	if err := sleepCtx(ctx, 2*time.Second); err != nil { // warm-up
		return nil, err
	}
	w0, err := ReadProc(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	l0 := sampleLoad()
	t0 := time.Now()
	measuring.Store(true)
	if err := sleepCtx(ctx, dur); err != nil {
		return nil, err
	}
	measuring.Store(false)
	elapsed := time.Since(t0)
	w1, err := ReadProc(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	l1 := sampleLoad()
	fr := &FloorResult{Clients: n, Rate: rate, FrameBytes: floorFrameBytes, Seconds: elapsed.Seconds(), Delivered: delivered.Load(),
		WriterCPUSec: (w1.CPU - w0.CPU).Seconds(),
		P50Ms:        ms(h.Quantile(0.5)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
	fr.WriterCores = fr.WriterCPUSec / elapsed.Seconds()
	fr.LoadCores, fr.MachineBusyPct = l1.since(l0, elapsed)
	if fr.Delivered == 0 {
		return fr, errors.New("floor: no frame arrived in the window")
	}
	fr.CPUUsPerWrite = fr.WriterCPUSec * 1e6 / float64(fr.Delivered)
	return fr, nil
}
