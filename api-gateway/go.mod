module github.com/orderq/orderq/api-gateway

go 1.26.8
