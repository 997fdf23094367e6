module dotmac.dev/field/edge-agent

go 1.26.8
