module dotmac.dev/field/migrations

go 1.26.8
