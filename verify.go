package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/boxofficehq/boxoffice/queue"
)

// verifyShuffle recomputes a lobby's order from its published audit (a URL or a
// file), checks the seed against the commitment, and prints the order, or one
// join id's place.
func verifyShuffle(ctx context.Context, cfg *config, stdout io.Writer) error {
	raw, err := readAudit(ctx, cfg.AuditSource)
	if err != nil {
		return err
	}
	var a queue.Audit
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("verify-shuffle: not an audit record: %w", err)
	}
	if a.Seed == "" {
		return fmt.Errorf("verify-shuffle: no seed yet: it is revealed when the sale opens")
	}
	order, err := a.Verify()
	if err != nil {
		return fmt.Errorf("verify-shuffle: %w", err)
	}
	fmt.Fprintf(stdout, "commitment %s matches the seed; %d fans in the lobby\n", a.Commitment, len(order))
	if cfg.AuditJoinID != "" {
		i := slices.Index(order, cfg.AuditJoinID)
		if i < 0 {
			return fmt.Errorf("verify-shuffle: join id %s was not in the lobby", cfg.AuditJoinID)
		}
		fmt.Fprintf(stdout, "%s is place %d\n", cfg.AuditJoinID, i+1)
		return nil
	}
	for i, id := range order {
		fmt.Fprintf(stdout, "%d\t%s\n", i+1, id)
	}
	return nil
}

func readAudit(ctx context.Context, src string) ([]byte, error) {
	if src == "-" {
		return io.ReadAll(os.Stdin)
	}
	if !hasScheme(src, "http", "https") {
		return os.ReadFile(src)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("verify-shuffle: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verify-shuffle: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("verify-shuffle: %s answered %s", src, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
