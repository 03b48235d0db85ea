package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

// generatedProfiles yields n users with two assignments each among a few
// experiments, as a long-running series of decide runs accumulates.
func generatedProfiles(n int) iter.Seq[ups.Profile] {
	return func(yield func(ups.Profile) bool) {
		for i := range n {
			p := ups.NewProfile(fmt.Sprintf("user-%08d", i))
			p.Set(strconv.Itoa(1001+i%4), strconv.Itoa(2001+i%3))
			p.Set(strconv.Itoa(1005+i%2), strconv.Itoa(2101+i%2))
			if !yield(p) {
				return
			}
		}
	}
}

// BenchmarkProfilesFile loads a generated profiles file into decide's
// table and writes it back, as a decide run does around its requests. It
// reports the process's peak resident memory during the loop (Linux: the
// high-water mark is reset before it), which is what the streaming file
// format and the compact table are for.
func BenchmarkProfilesFile(b *testing.B) {
	for _, users := range []int{60_000, 600_000} {
		b.Run(strconv.Itoa(users)+"users", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "profiles.json")
			if err := saveProfiles(path, generatedProfiles(users)); err != nil {
				b.Fatal(err)
			}
			info, _ := os.Stat(path)
			ctx := context.Background()
			runtime.GC()
			debug.FreeOSMemory()
			resetPeakRSS := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
			for b.Loop() {
				tab := newProfileTable()
				if err := loadProfiles(ctx, path, func(p ups.Profile) error { return tab.Save(ctx, p) }); err != nil {
					b.Fatal(err)
				}
				if tab.Len() != users {
					b.Fatalf("loaded %d users, want %d", tab.Len(), users)
				}
				if err := saveProfiles(path, tab.All()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(info.Size())/1e6, "file-MB")
			if peak, ok := peakRSS(); ok && resetPeakRSS {
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}

// peakRSS reads the process's resident high-water mark (VmHWM) in bytes.
func peakRSS() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(rest, []byte("kB")))), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
