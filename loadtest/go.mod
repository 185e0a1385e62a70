module github.com/orderq/orderq/loadtest

go 1.26.8
