module github.com/orderq/orderq/loadtest

go 1.26.8

require (
	github.com/go-sql-driver/mysql v1.8.1
	github.com/google/uuid v1.6.0
)

require filippo.io/edwards25519 v1.1.0 // indirect

require github.com/orderq/orderq/shared v0.0.0

replace github.com/orderq/orderq/shared => ../shared
