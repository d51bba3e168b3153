module github.com/b2borders/platform/core

go 1.22

require github.com/google/uuid v1.6.0
