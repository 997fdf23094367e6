// Command hub is the DotMac Field back office: `hub serve|migrate|seed|worker|routes|fiber-import`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // time zone names work on machines without zoneinfo

	"dotmac.dev/field/hub/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hub:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: hub <command> [flags]

commands:
  serve     run the HTTP server (migrates first; embeds NATS unless --nats-url is set)
  migrate   apply migrations (migrate down [N] rolls back N steps, default 1)
  seed      seed roles and permissions; --demo adds the demo ISP and logins
  worker    run background jobs only (asynq)
  routes    print every route with its permission
  fiber-import FILE
            import a GeoJSON FeatureCollection into the fiber plant, all or nothing
            (FILE - reads standard input); errors per feature, exit status 1 on any

run 'hub <command> -h' for the flags; every flag also reads its environment variable.`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 {
			return errors.New("no command")
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	cfg := app.DefaultConfig()
	fs := flag.NewFlagSet("hub "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	demo := fs.Bool("demo", false, "seed: add the demo ISP and logins")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if err := cfg.Validate(cmd); err != nil {
		return err
	}
	logger := cfg.Logger(stderr)
	slog.SetDefault(logger)

	switch cmd {
	case "serve", "worker":
		m := app.New(cfg, logger)
		if err := m.Open(ctx, cmd == "serve"); err != nil {
			m.Close()
			return err
		}
		if cmd == "serve" {
			err := m.Serve(ctx)
			m.Close()
			return err
		}
		err := m.RunWorker(ctx)
		m.Close()
		return err
	case "migrate":
		m := app.New(cfg, logger)
		defer m.Close()
		if fs.NArg() > 0 && fs.Arg(0) == "down" {
			steps := 1
			if fs.NArg() > 1 {
				if _, err := fmt.Sscan(fs.Arg(1), &steps); err != nil {
					return fmt.Errorf("migrate down: steps must be a number")
				}
			}
			return m.MigrateDown(ctx, steps)
		}
		return m.Migrate(ctx)
	case "seed":
		m := app.New(cfg, logger)
		defer m.Close()
		if err := m.Migrate(ctx); err != nil {
			return err
		}
		if *demo {
			start := time.Now()
			seeded, err := m.SeedDemo(ctx, stdout)
			if err != nil {
				return err
			}
			if seeded {
				fmt.Fprintf(stdout, "demo data seeded in %s\n", time.Since(start).Round(time.Millisecond))
			} else {
				fmt.Fprintln(stdout, "demo data already present; kept as is")
			}
		}
		return nil
	case "fiber-import":
		if fs.NArg() != 1 {
			return errors.New("fiber-import: name one GeoJSON file (or - for standard input): hub fiber-import [flags] FILE")
		}
		return fiberImport(ctx, app.New(cfg, logger), fs.Arg(0), stdout, stderr)
	case "routes":
		m := app.New(cfg, logger)
		for _, r := range m.RouteTable() {
			fmt.Fprintln(stdout, r)
		}
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
