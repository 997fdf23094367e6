package app

import (
	"context"

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
		return fiber.NewArea(fiber.NewService(a.DB, a.Logger)), nil
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
		HubURL: a.Config.PublicURL, AgentNATSURL: a.Config.NATSURL, Field: syncField(a)}
	if a.NATS != nil {
		cfg.NS, cfg.AgentNATSURL = a.NATS.NS, a.NATS.ClientURL()
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
