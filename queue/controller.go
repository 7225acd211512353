package queue

import (
	"context"
	"fmt"
	"log/slog"
)

// Controller runs admission steps for every event whose line is open. Every
// replica runs one; the scripts make concurrent steps safe, so there is no leader.
type Controller struct {
	q      *Queue
	events func(ctx context.Context) ([]Event, error)
	onStep func(ctx context.Context, ev Event, s *Step)
	log    *slog.Logger
}

// NewController steps the events that events lists. onStep hears of every step
// (Step.Changed says whether it was this replica's step that moved the line;
// every replica sees the state turn "open" after the shuffle).
func NewController(q *Queue, events func(ctx context.Context) ([]Event, error),
	onStep func(ctx context.Context, ev Event, s *Step), log *slog.Logger) *Controller {
	return &Controller{q: q, events: events, onStep: onStep, log: log}
}

// Tick steps every event events lists once. events is asked every tick (it may
// cache), so that a sell-out pauses admission at once. Its owner runs it a few
// times a second.
func (c *Controller) Tick(ctx context.Context) error {
	events, err := c.events(ctx)
	if err != nil {
		return fmt.Errorf("list events for admission: %w", err)
	}
	for _, ev := range events {
		c.Step(ctx, ev)
	}
	return nil
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
