module github.com/keyward/keyward

go 1.26.0
