package rehearse

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress writes a status line to Config.Progress until the returned stop is
// called: refreshed in place four times a second on a terminal, else a plain
// line every five seconds (for CI logs). Refused counts 4xx answers (sold out,
// seat taken: the day's normal), errors 5xx answers and requests that got
// none. It also settles old delay samples.
func (r *run) progress() (stop func()) {
	every, w := 5*time.Second, r.cfg.Progress
	if r.cfg.Terminal {
		every = 250 * time.Millisecond
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		sweep := time.Now()
		for {
			select {
			case <-quit:
				r.printProgress(w, true)
				return
			case <-t.C:
			}
			r.printProgress(w, false)
			if time.Since(sweep) >= time.Second {
				r.delays.sweep(r.since(), false)
				sweep = time.Now()
			}
		}
	}()
	return func() { close(quit); <-done }
}

func (r *run) printProgress(w io.Writer, last bool) {
	if w == nil {
		return
	}
	line := r.progressLine()
	switch {
	case r.cfg.Terminal && last:
		fmt.Fprintf(w, "\r\033[K%s\n", line)
	case r.cfg.Terminal:
		fmt.Fprintf(w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(w, line)
	}
}

func (r *run) progressLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.1fs  ", r.since().Seconds())
	r.mu.Lock()
	selling, left, state := r.fansCtx != nil, r.ticketsLeft, r.saleState
	r.mu.Unlock()
	if !selling {
		fmt.Fprintf(&b, "accounts %d/%d ready", r.accountsReady.Load(), r.cfg.Shard.size(r.cfg.Fans))
		if n := r.accountsFailed.Load(); n > 0 {
			fmt.Fprintf(&b, ", %d failed", n)
		}
	} else {
		fmt.Fprintf(&b, "fans %d in line · %d shopping · %d done", r.waiting.Load(), r.shopping.Load(), r.finished.Load())
		if left >= 0 {
			fmt.Fprintf(&b, " | tickets left %d", left)
		}
		if state != "" {
			fmt.Fprintf(&b, " (%s)", state)
		}
	}
	refused, failed := r.rec.troubles()
	fmt.Fprintf(&b, " | refused %d · errors %d", refused, failed)
	return b.String()
}
