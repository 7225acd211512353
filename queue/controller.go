package queue

import (
	"context"
	"log/slog"
	"time"
)

// Controller runs admission steps for every event whose line is open. Every
// replica runs one; the scripts make concurrent steps safe, so there is no leader.
type Controller struct {
	q        *Queue
	events   func(ctx context.Context) ([]Event, error)
	onStep   func(ctx context.Context, ev Event, s *Step)
	interval time.Duration
	log      *slog.Logger
}

// NewController steps the events that events lists, every interval. onStep hears
// of every step (Step.Changed says whether it was this replica's step that moved
// the line; every replica sees the state turn "open" after the shuffle).
func NewController(q *Queue, events func(ctx context.Context) ([]Event, error),
	onStep func(ctx context.Context, ev Event, s *Step), interval time.Duration, log *slog.Logger) *Controller {
	return &Controller{q: q, events: events, onStep: onStep, interval: interval, log: log}
}

// Run steps until ctx ends. events is asked every step (it may cache), so that
// a sell-out pauses admission at once.
func (c *Controller) Run(ctx context.Context) {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		events, err := c.events(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.WarnContext(ctx, "list events for admission", "err", err)
		}
		for _, ev := range events {
			c.Step(ctx, ev)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Step runs one admission step for one event, numbering its lobby first if the
// sale has just opened.
func (c *Controller) Step(ctx context.Context, ev Event) {
	s, err := c.q.Admit(ctx, ev)
	if err != nil {
		if ctx.Err() == nil {
			c.log.WarnContext(ctx, "admission step", "event", ev.ID, "err", err)
		}
		return
	}
	if s.State == "shuffling" {
		if err := c.q.Shuffle(ctx, ev.ID); err != nil {
			c.log.WarnContext(ctx, "shuffle lobby", "event", ev.ID, "err", err)
		}
		return
	}
	if c.onStep != nil {
		c.onStep(ctx, ev, s)
	}
}
