package events

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// sendLoop sends the ready batches until the processor is closed and
// none is left.
func (p *Processor) sendLoop() {
	for b := p.next(); b != nil; b = p.next() {
		p.send(b)
	}
}

// send closes b's JSON and POSTs it, retrying failures that may pass
// until it is delivered, refused, out of retries, or Close gave up
// waiting.
func (p *Processor) send(b *batch) {
	defer release(b)
	if p.aborted.Err() != nil {
		p.drop(dropShutdown, b)
		return
	}
	b.body = append(b.body, batchEnd...)
	start := p.clock.Now()
	wait := p.opts.RetryInitial
	for {
		retry, err := p.post(b.body)
		if err == nil {
			p.c.sent.Add(uint64(b.n))
			p.c.batches.Add(1)
			p.settle(b)
			p.endpointUp()
			return
		}
		switch {
		case p.aborted.Err() != nil:
			p.drop(dropShutdown, b)
			return
		case !retry:
			p.drop(dropRejected, b)
			p.log.Error("events: the endpoint refused a batch; dropped", "url", p.opts.URL, "events", b.n, "err", err)
			return
		case p.clock.Now().Sub(start) >= p.opts.RetryFor:
			p.drop(dropGaveUp, b)
			p.log.Error("events: a batch kept failing; dropped", "url", p.opts.URL, "events", b.n, "for", p.opts.RetryFor, "err", err)
			return
		}
		p.endpointDown(err)
		select {
		case <-p.clock.After(jitter(wait)):
		case <-p.aborted.Done():
			p.drop(dropShutdown, b)
			return
		}
		wait = min(2*wait, p.opts.RetryMax)
		p.c.retried.Add(1)
	}
}

// post sends body once. retry says whether a failure may pass: a network
// error, 408, 429 or a 5xx answer.
func (p *Processor) post(body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(p.aborted, http.MethodPost, p.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("events: request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("events: post: %w", err)
	}
	// Read a little of the answer, so the connection can be kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return false, nil
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return true, fmt.Errorf("events: the endpoint answered %s", resp.Status)
	default:
		return false, fmt.Errorf("events: the endpoint answered %s", resp.Status)
	}
}

// jitter spreads a wait over ±20%, so senders retrying together do not
// stay in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	spread := int64(d) * 2 / 5
	return time.Duration(int64(d) - spread/2 + rand.Int64N(spread+1))
}

// endpointDown logs the first failure of an outage; endpointUp its end.
func (p *Processor) endpointDown(err error) {
	if p.down.CompareAndSwap(false, true) {
		p.log.Warn("events: the event endpoint is failing; retrying with backoff", "url", p.opts.URL, "err", err)
	}
}

func (p *Processor) endpointUp() {
	if p.down.CompareAndSwap(true, false) {
		p.log.Info("events: the event endpoint answers again", "url", p.opts.URL)
	}
}
