// Baseline for the benchmarks: the least a controller-runtime provider does per Datum Instance (a finalizer,
// status Programmed+Running, one Event; on delete, drop the finalizer), against a map standing in for the
// platform. Unstructured objects: no Datum Go types. Built by bench/go-baseline/build.sh, never committed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

const finalizer = "compute.datumapis.com/bench-go-baseline"

var instanceGVK = schema.GroupVersionKind{Group: "compute.datumapis.com", Version: "v1alpha", Kind: "Instance"}

func newInstance() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(instanceGVK)
	return u
}

type reconciler struct {
	client.Client
	rec     record.EventRecorder
	backend sync.Map // namespace/name -> generation realized
}

func conditionsCurrent(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	ok := map[string]bool{}
	for _, c := range conds {
		m, _ := c.(map[string]interface{})
		gen, _ := m["observedGeneration"].(int64)
		if m["status"] == "True" && gen == u.GetGeneration() {
			ok[fmt.Sprint(m["type"])] = true
		}
	}
	return ok["Programmed"] && ok["Running"]
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", req, err)
	}
	return res, err
}

func (r *reconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u := newInstance()
	if err := r.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	key := req.String()
	if u.GetDeletionTimestamp() != nil {
		if controllerutil.ContainsFinalizer(u, finalizer) {
			r.backend.Delete(key)
			base := u.DeepCopy()
			controllerutil.RemoveFinalizer(u, finalizer)
			return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, u, client.MergeFrom(base)))
		}
		return ctrl.Result{}, nil
	}
	if !controllerutil.ContainsFinalizer(u, finalizer) {
		base := u.DeepCopy()
		controllerutil.AddFinalizer(u, finalizer)
		if err := r.Patch(ctx, u, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, err
		}
	}
	r.backend.Store(key, u.GetGeneration())
	if conditionsCurrent(u) {
		return ctrl.Result{}, nil
	}
	base := u.DeepCopy()
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(t, reason string) interface{} {
		return map[string]interface{}{"type": t, "status": "True", "reason": reason, "message": "",
			"observedGeneration": u.GetGeneration(), "lastTransitionTime": now}
	}
	_ = unstructured.SetNestedSlice(u.Object, []interface{}{cond("Programmed", "Programmed"), cond("Running", "Running")},
		"status", "conditions")
	if err := r.Status().Patch(ctx, u, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, err
	}
	r.rec.Event(u, "Normal", "Programmed", "instance programmed")
	return ctrl.Result{}, nil
}

func main() {
	// Our own flag set: controller-runtime registers a global --kubeconfig of its own.
	fs := flag.NewFlagSet("bench-go-baseline", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "project cluster")
	workers := fs.Int("workers", 8, "MaxConcurrentReconciles")
	qps := fs.Float64("qps", 1000, "client QPS (controller-runtime's default is 20)")
	metricsAddr := fs.String("metrics-addr", "0", "Prometheus metrics address; 0 = off")
	_ = fs.Parse(os.Args[1:])
	log.SetLogger(logr.Discard())
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.QPS = float32(*qps)
	cfg.Burst = int(*qps) * 2
	cfg.UserAgent = "bench-go-baseline"
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: "0",
		// Reads from the informer cache, as the TypeScript provider does (off by default for unstructured).
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	r := &reconciler{Client: mgr.GetClient(), rec: mgr.GetEventRecorderFor("bench-go-baseline")}
	err = ctrl.NewControllerManagedBy(mgr).Named("instance").For(newInstance()).
		WithOptions(controller.Options{MaxConcurrentReconciles: *workers}).Complete(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("started")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
