module dotmac.dev/field/sync

go 1.26.8
