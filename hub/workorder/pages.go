package workorder

import "dotmac.dev/field/hub/web"

func (a *Area) pages(s *web.Server) {}
