package events

// batch is events of one header, sent in one POST.
type batch struct {
	h     header
	items []item
}

// batchLoop takes queued events into batches, one per header, and hands
// each to the senders when it is full, on every tick of the flush
// interval, and when the processor closes; then it closes sendQ.
func (p *Processor) batchLoop() {
	defer close(p.sendQ)
	tick, stop := p.clock.NewTicker(p.opts.FlushInterval)
	defer stop()
	open := map[header]*batch{}
	for {
		select {
		case it := <-p.in:
			p.add(open, it)
		case <-tick:
			// What was queued before the tick goes with it.
			p.drain(open)
			p.flush(open)
		case <-p.closing:
			// Close took mu after the last event was queued: in holds
			// everything there is.
			p.drain(open)
			p.flush(open)
			return
		}
	}
}

// add puts it in the open batch of its header, handing the batch over
// once full.
func (p *Processor) add(open map[header]*batch, it item) {
	h := it.project.header()
	b := open[h]
	if b == nil {
		b = &batch{h: h, items: make([]item, 0, p.opts.BatchSize)}
		open[h] = b
	}
	b.items = append(b.items, it)
	if len(b.items) >= p.opts.BatchSize {
		delete(open, h)
		p.handOver(b)
	}
}

// drain adds every event waiting in the queue, without waiting for more.
func (p *Processor) drain(open map[header]*batch) {
	for {
		select {
		case it := <-p.in:
			p.add(open, it)
		default:
			return
		}
	}
}

// flush hands every open batch over.
func (p *Processor) flush(open map[header]*batch) {
	for h, b := range open {
		delete(open, h)
		p.handOver(b)
	}
}

// handOver gives b to a sender, waiting for one to be free; once Close
// gave up waiting, b is dropped instead.
func (p *Processor) handOver(b *batch) {
	select {
	case p.sendQ <- b:
	case <-p.aborted.Done():
		p.drop(dropShutdown, len(b.items))
	}
}
