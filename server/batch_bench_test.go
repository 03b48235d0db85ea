package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// decideOps are n decide operations of one flag for distinct users, as a
// batch body, and the same as single request bodies.
func decideOps(n int, sdkKey string) (batch string, singles []string) {
	ops := make([]string, n)
	singles = make([]string, n)
	for i := range ops {
		singles[i] = fmt.Sprintf(`{"userId":"user-%d","userAttributes":{"country":"de","plan":"pro","app_version":"3.2.0"}}`, i)
		ops[i] = op(fmt.Sprint(i), "POST", "/v1/decide?keys=new_search", singles[i], "Content-Type", "application/json", sdkKeyHeader, sdkKey)
	}
	return batchOf(ops...), singles
}

// loopbackClient keeps enough connections alive for the concurrent runs.
var loopbackClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

func postOK(tb testing.TB, url, body string) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sdkKeyHeader, "k1")
	res, err := loopbackClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		tb.Fatalf("%s: %d", url, res.StatusCode)
	}
}

// hundredDecides runs one round of 100 decisions against base: one batch,
// 100 requests in a row, or 100 requests from 10 clients at once (the
// batch's concurrency).
func hundredDecides(tb testing.TB, base, how, batch string, singles []string) {
	switch how {
	case "batch":
		postOK(tb, base+"/v1/batch", batch)
	case "singles":
		for _, s := range singles {
			postOK(tb, base+"/v1/decide?keys=new_search", s)
		}
	case "singles-10-clients":
		var wg sync.WaitGroup
		for c := range 10 {
			wg.Go(func() {
				for i := c; i < len(singles); i += 10 {
					postOK(tb, base+"/v1/decide?keys=new_search", singles[i])
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkHundredDecides: 100 decisions of one flag over loopback, as
// one POST /v1/batch of 100 operations or as 100 POST /v1/decide.
func BenchmarkHundredDecides(b *testing.B) {
	s := newBatchService(&testing.T{}, nil)
	batch, singles := decideOps(100, "k1")
	for _, how := range []string{"batch", "singles", "singles-10-clients"} {
		b.Run(how, func(b *testing.B) {
			for b.Loop() {
				hundredDecides(b, s.url, how, batch, singles)
			}
		})
	}
}
