package app

import (
	"context"

	"github.com/nats-io/nats-server/v2/server"

	"dotmac.dev/field/hub/dispatch"
	"dotmac.dev/field/hub/fiber"
	"dotmac.dev/field/hub/inventory"
	"dotmac.dev/field/hub/survey"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/hub/workorder"
	"dotmac.dev/field/sync/field"
)

// areaBuilders build the feature areas (work orders, inventory, fiber, sync, …) from the wired
// App. Each area adds one line here; its code lives in its own packages.
var areaBuilders = []func(ctx context.Context, a *App) (web.Area, error){
	func(ctx context.Context, a *App) (web.Area, error) {
		return workorder.Build(a.DB, a.Config.DataDir, a.HashParams, a.Logger), nil
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

// natsAuthenticator decides who may connect to the embedded NATS server. nil keeps the default
// (the hub's own user only) until the sync area installs per-device credentials.
func (a *App) natsAuthenticator() server.Authentication { return natsAuth }

// natsAuth is set by the sync area (per-device credentials whose permissions the server enforces).
var natsAuth server.Authentication
