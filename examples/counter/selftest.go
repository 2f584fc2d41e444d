package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// selfTest sends requests from concurrent clients and checks that every
// answer is a distinct count.
func selfTest(ctx context.Context, url string, requests, clients int, stdout io.Writer) error {
	var mu sync.Mutex
	seen := map[int]bool{}
	var errs []error
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < requests; i += clients {
				n, err := get(ctx, http.DefaultClient, url)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if seen[n] {
					errs = append(errs, fmt.Errorf("count %d answered twice", n))
				}
				seen[n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	last, err := get(ctx, http.DefaultClient, url)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d requests from %d concurrent clients got %d distinct counts; the next request got: %s",
		requests, clients, len(seen), sentence(last))
	return nil
}

// get sends a GET to url and returns the count it answered.
func get(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return parseSentence(string(body))
}

// parseSentence returns the count of an answer of sentence.
func parseSentence(s string) (int, error) {
	var n int
	var unit string
	if _, err := fmt.Sscanf(s, "There have been %d %s", &n, &unit); err != nil || (unit != "request." && unit != "requests.") {
		return 0, fmt.Errorf("unexpected answer %q", s)
	}
	return n, nil
}
