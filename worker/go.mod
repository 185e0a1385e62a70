module github.com/orderq/orderq/worker

go 1.26.8
