package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"dotmac.dev/field/hub/app"
	"dotmac.dev/field/hub/fiber"
)

// fiberImport runs `hub fiber-import FILE`: progress every 10,000 features and each rejected
// feature (by its index in the file, from 0) go to stderr, the summary to stdout. Any invalid
// feature rejects the whole file and the command fails.
func fiberImport(ctx context.Context, m *app.App, path string, stdout, stderr io.Writer) error {
	defer m.Close()
	var r io.Reader = os.Stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("fiber-import: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	start := time.Now()
	res, err := m.FiberImport(ctx, bufio.NewReaderSize(r, 1<<20), func(stage string, n int) {
		fmt.Fprintf(stderr, "fiber-import: %s %d features (%s)\n", stage, n, time.Since(start).Round(time.Millisecond))
	})
	var ie *fiber.ImportError
	if errors.As(err, &ie) {
		for _, fe := range ie.Errors {
			kind := ""
			if fe.Kind != "" {
				kind = " (" + fe.Kind + ")"
			}
			fmt.Fprintf(stderr, "feature %d%s: %s\n", fe.Index, kind, fe.Message)
		}
		if more := ie.Total - len(ie.Errors); more > 0 {
			fmt.Fprintf(stderr, "… and %d more invalid features\n", more)
		}
		return fmt.Errorf("fiber-import %s: %s", name, ie.Message)
	}
	if err != nil {
		return fmt.Errorf("fiber-import %s: %w", name, err)
	}
	kinds := make([]string, 0, len(res.ByKind))
	for k, n := range res.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	detail := ""
	if len(kinds) > 0 {
		detail = " (" + strings.Join(kinds, ", ") + ")"
	}
	fmt.Fprintf(stdout, "imported %d features from %s in %s%s\n", res.Imported, name, time.Since(start).Round(time.Millisecond), detail)
	return nil
}
