// Package stripemock runs stripe-mock, Stripe's own fake API, for tests that
// drive the Stripe provider against it (make test installs it).
package stripemock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Start runs stripe-mock on loopback ports of its own choosing and waits
// until it answers secretKey's requests; stop kills it and waits for it.
// Both addresses are given: given one, stripe-mock opens the other on a
// fixed port on all interfaces and exits if that port is busy.
func Start(secretKey string) (url string, stop func(), err error) {
	bin, err := findStripeMock()
	if err != nil {
		return "", nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	pw.Close() // the child holds its own copy
	exited := make(chan struct{})
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	go func() { _ = cmd.Wait(); close(exited) }()

	addr := make(chan string, 1)
	go func() {
		const prefix = "Listening for HTTP at address: "
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), prefix); ok {
				addr <- a
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr) // it logs every request; never let it block
		pr.Close()
	}()
	select {
	case a := <-addr:
		url = "http://" + a
	case <-exited:
		return "", nil, errors.New("stripe-mock exited before listening")
	case <-time.After(15 * time.Second):
		stop()
		return "", nil, errors.New("stripe-mock did not print its HTTP address within 15s")
	}
	if err := waitStripeMock(url, secretKey); err != nil {
		stop()
		return "", nil, err
	}
	return url, stop, nil
}

// findStripeMock looks on PATH, then where go install puts it.
func findStripeMock() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(string(out), "\n") // GOBIN's line is empty when unset
		if gobin := strings.TrimSpace(lines[0]); gobin != "" {
			dirs = append(dirs, gobin)
		}
		if len(lines) > 1 {
			if paths := filepath.SplitList(strings.TrimSpace(lines[1])); len(paths) > 0 {
				dirs = append(dirs, filepath.Join(paths[0], "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("stripe-mock not found on PATH or in $(go env GOPATH)/bin: run `make test`, which installs it")
}

// waitStripeMock polls GET /v1/balance until it answers 200.
func waitStripeMock(base, secretKey string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/balance", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+secretKey)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stripe-mock at %s not ready: %v", base, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
