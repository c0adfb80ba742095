// Package components registers the Dapr components this platform uses, and no others.
//
// Adding a component to components/ means registering its type here too; the
// drift test in tests/unit/platform/test_versions.py fails otherwise.
package components

import (
	localstorage "github.com/dapr/components-contrib/bindings/localstorage"
	smtp "github.com/dapr/components-contrib/bindings/smtp"
	nrkubernetes "github.com/dapr/components-contrib/nameresolution/kubernetes"
	nrmdns "github.com/dapr/components-contrib/nameresolution/mdns"
	nrsqlite "github.com/dapr/components-contrib/nameresolution/sqlite"
	pubsubredis "github.com/dapr/components-contrib/pubsub/redis"
	sskubernetes "github.com/dapr/components-contrib/secretstores/kubernetes"
	sslocalfile "github.com/dapr/components-contrib/secretstores/local/file"
	stateredis "github.com/dapr/components-contrib/state/redis"

	bindingsLoader "github.com/dapr/dapr/pkg/components/bindings"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	secretstoresLoader "github.com/dapr/dapr/pkg/components/secretstores"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
)

func init() {
	stateLoader.DefaultRegistry.RegisterComponent(stateredis.NewRedisStateStore, "redis")
	pubsubLoader.DefaultRegistry.RegisterComponent(pubsubredis.NewRedisStreams, "redis")
	secretstoresLoader.DefaultRegistry.RegisterComponent(sslocalfile.NewLocalSecretStore, "local.file")
	secretstoresLoader.DefaultRegistry.RegisterComponent(sskubernetes.NewKubernetesSecretStore, "kubernetes")
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(smtp.NewSMTP, "smtp")
	// media: product pictures (local files here; a bucket binding is the cluster's choice).
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(localstorage.NewLocalStorage, "localstorage")
	// sqlite: one machine (dapr run -f); mdns: docker-compose; kubernetes: clusters.
	// sqlite answers are reused for a second (nrcache.go): it queries on every call.
	nrLoader.DefaultRegistry.RegisterComponent(withResolveCache(nrsqlite.NewResolver), "sqlite")
	nrLoader.DefaultRegistry.RegisterComponent(nrmdns.NewResolver, "mdns")
	nrLoader.DefaultRegistry.RegisterComponent(nrkubernetes.NewResolver, "kubernetes")
}
