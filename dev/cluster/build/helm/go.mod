// Wrapper module: builds helm from the Go module proxy.
module payment-pipeline/dev/cluster/build/helm

go 1.26.0

require helm.sh/helm/v4 v4.3.1
