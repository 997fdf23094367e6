package app

import (
	"context"
	"net/url"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"dotmac.dev/field/hub/dispatch"
	"dotmac.dev/field/hub/fiber"
	"dotmac.dev/field/hub/inventory"
	"dotmac.dev/field/hub/survey"
	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/hub/workorder"
	"dotmac.dev/field/sync/field"
)

// areaBuilders build the feature areas (work orders, inventory, fiber, sync, …) from the wired
// App. Each area adds one line here; its code lives in its own packages.
var areaBuilders = []func(ctx context.Context, a *App) (web.Area, error){
	func(ctx context.Context, a *App) (web.Area, error) {
		return workorder.Build(ctx, workorder.Deps{DB: a.DB, DataDir: a.Config.DataDir, HashParams: a.HashParams, Logger: a.Logger,
			Worker: a.Config.Worker, Go: a.Go}), nil
	},
	func(ctx context.Context, a *App) (web.Area, error) {
		return dispatch.New(ctx, dispatch.Deps{DB: a.DB, NC: a.NC, Logger: a.Logger, PublicURL: a.Config.PublicURL, Go: a.Go})
	},
	func(ctx context.Context, a *App) (web.Area, error) {
		ar := fiber.NewArea(fiber.NewService(a.DB, a.Logger))
		ar.ImportMaxBytes = a.Config.FiberImportMaxBytes
		return ar, nil
	},
	func(ctx context.Context, a *App) (web.Area, error) {
		workorder.RegisterMaterialsSource(func(ctx context.Context, q workorder.Querier, id string) ([]field.Material, error) {
			return inventory.FieldMaterialsOf(ctx, q, id)
		})
		return inventory.NewArea(inventory.NewService(a.DB)), nil
	},
	func(ctx context.Context, a *App) (web.Area, error) {
		workorder.RegisterSurveySource(func(ctx context.Context, q workorder.Querier, id string) (*field.Survey, error) {
			return survey.JobSurveyOf(ctx, q, id)
		})
		return survey.NewArea(survey.NewService(a.DB)), nil
	},
	func(ctx context.Context, a *App) (web.Area, error) { return syncsvc.Build(ctx, syncConfig(a), a.Go) },
}

// syncConfig hands the sync area what it needs from the wired hub.
func syncConfig(a *App) syncsvc.Config {
	cfg := syncsvc.Config{DB: a.DB, NC: a.NC, Logger: a.Logger, Registry: a.Registry, DataDir: a.Config.DataDir,
		HubURL: a.Config.PublicURL, AgentNATSURL: agentNATSURL(a.Config), Field: syncField(a)}
	if a.NATS != nil {
		cfg.NS, cfg.AgentNATSURL = a.NATS.NS, a.NATS.ClientURL()
	} else if a.Config.NATSAccountSigningSeed != "" {
		cfg.DeviceJWTs, _ = syncsvc.NewDeviceJWTs(a.Config.NATSAccountSigningSeed, a.Config.NATSAccount) // checked by Config.Validate
	}
	return cfg
}

// syncField applies device uploads with the services the HTTP field API uses (the services are
// stateless over the database, so these instances run the same code as the areas' own).
func syncField(a *App) *syncsvc.HubField {
	wo := workorder.NewService(a.DB, a.Config.DataDir, a.Logger)
	inv := inventory.NewService(a.DB)
	sv := survey.NewService(a.DB)
	return &syncsvc.HubField{
		EventFn: func(ctx context.Context, actorID, deviceID, jobID string, req field.TransitionRequest, opt syncsvc.FieldOptions) (*field.TransitionResponse, error) {
			return wo.ApplyFieldEventWith(ctx, actorID, deviceID, jobID, req, workorder.FieldOptions(opt))
		},
		NoteFn: func(ctx context.Context, actorID, deviceID, jobID string, req field.NoteRequest, opt syncsvc.FieldOptions) (*field.Note, bool, error) {
			return wo.AddFieldNoteWith(ctx, actorID, deviceID, jobID, req, workorder.FieldOptions(opt))
		},
		NotesFn: func(ctx context.Context, actorID, deviceID string, in []syncsvc.NoteInput) ([]syncsvc.NoteOutcome, error) {
			notes := make([]workorder.FieldNote, len(in))
			for i, n := range in {
				notes[i] = workorder.FieldNote{JobID: n.WorkOrderID, Request: n.Request, Options: workorder.FieldOptions{ID: n.ID, FormerHolder: n.FormerHolder}}
			}
			rs, err := wo.AddFieldNotes(ctx, actorID, deviceID, notes)
			if err != nil {
				return nil, err
			}
			out := make([]syncsvc.NoteOutcome, len(rs))
			for i, r := range rs {
				out[i] = syncsvc.NoteOutcome{Note: r.Note, Replayed: !r.Created && r.Err == nil, Err: r.Err}
			}
			return out, nil
		},
		AttachmentFn: func(ctx context.Context, actorID, deviceID string, in syncsvc.AttachmentInput) (*field.Attachment, bool, error) {
			return wo.AddAttachment(ctx, actorID, deviceID, workorder.AttachmentInput(in))
		},
		ConsumeFn: func(ctx context.Context, actorID, deviceID, jobID string, req field.ConsumeRequest, opt syncsvc.FieldOptions) (*field.ConsumeResponse, error) {
			return inv.ConsumeMaterialsWith(ctx, actorID, deviceID, jobID, req, inventory.FieldOptions{FormerHolder: opt.FormerHolder})
		},
		SurveyFn: func(ctx context.Context, actorID, deviceID, jobID string, req field.SurveyRequest, opt syncsvc.FieldOptions) (*field.Survey, error) {
			return sv.SubmitSurveyWith(ctx, actorID, deviceID, jobID, req, survey.FieldOptions{FormerHolder: opt.FormerHolder})
		},
	}
}

func (a *App) buildAreas(ctx context.Context) ([]web.Area, error) {
	var out []web.Area
	for _, b := range areaBuilders {
		ar, err := b(ctx, a)
		if err != nil {
			return nil, err
		}
		if ar != nil {
			out = append(out, ar)
		}
	}
	return out, nil
}

// natsAuthenticator decides who may connect to the embedded NATS server: the hub itself and
// enrolled devices, each limited to its own subjects (syncsvc).
func (a *App) natsAuthenticator() server.Authentication { return natsAuth(a) }

var natsAuth = func(a *App) server.Authentication { return syncsvc.NewAuthenticator(a.DB, a.Logger) }

// agentNATSURL is the NATS address handed to tablets at enrollment: HUB_AGENT_NATS_URL, or
// NATS_URL without any user, password or token in it — those are the hub's own credentials, and
// each device gets its own.
func agentNATSURL(c Config) string {
	raw := c.AgentNATSURL
	if raw == "" {
		raw = c.NATSURL
	}
	var out []string
	for _, one := range strings.Split(raw, ",") {
		one = strings.TrimSpace(one)
		if u, err := url.Parse(one); err == nil && u.User != nil {
			u.User = nil
			one = u.String()
		} else if err != nil {
			one = "" // unparseable: never hand it out as is
		}
		if one != "" {
			out = append(out, one)
		}
	}
	return strings.Join(out, ",")
}
