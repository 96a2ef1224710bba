// Wrapper module: builds kwok and kwokctl from the Go module proxy.
module payment-pipeline/dev/cluster/build/kwok

go 1.26.0

require sigs.k8s.io/kwok v0.8.0
