module github.com/orderq/orderq/e2e

go 1.26.8

require (
	github.com/go-sql-driver/mysql v1.8.1
	github.com/orderq/orderq/shared v0.0.0
	github.com/rabbitmq/amqp091-go v1.16.0
)

require (
	filippo.io/edwards25519 v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
)

replace github.com/orderq/orderq/shared => ../shared
