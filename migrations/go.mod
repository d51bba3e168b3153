module github.com/b2borders/platform/migrations

go 1.26.8
