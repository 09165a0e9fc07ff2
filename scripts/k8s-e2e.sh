#!/usr/bin/env bash
# deepaug on a real Kubernetes cluster, end to end, in one command (not run on deepaug's
# development machines: no control plane installs there; see k8s/README.md).
#
#   bash scripts/k8s-e2e.sh             # on the cluster of kubectl's current context
#   bash scripts/k8s-e2e.sh --dry-run   # print the steps and the manifests; touch nothing
#
# 1. Checks, before any work, that kubectl, docker (and kind, without a registry) are there,
#    that kubectl has a context whose API server answers, and that it may create what the
#    run creates; stops with what is missing.
# 2. The images deepaug-augment:<version> (light, EXTRAS=s3,queue) and deepaug:<version> (trials,
#    EXTRAS=cpu,s3,queue), built by scripts/build-image.sh when missing, go into the kind cluster
#    (`kind load docker-image`) or, with DEEPAUG_REGISTRY set, are tagged and pushed there.
# 3. In namespace DEEPAUG_K8S_NAMESPACE (default deepaug-e2e, made when missing): the RBAC of
#    k8s/rbac.yaml; S3 storage: DEEPAUG_K8S_STORAGE when set, else a MinIO Deployment and
#    Service in the namespace whose credentials are generated now into a Secret (never
#    printed, never written to a file), reached here through `kubectl port-forward`.
# 4. `deepaug run` of a tiny config: a search on digits with executor kubernetes (3 trials,
#    2 epochs on 200 images) and, after it, an augment Indexed Job over 400 images on S3;
#    then checks that best_policy.json exists and that the augmented output holds
#    400 x 3 images, as its manifest says (scripts/k8s_e2e_check.py).
# 5. The real-cluster test, tests/kubernetes/test_k8s_cluster.py (one trial as a Job).
# At exit it stops its port-forward and deletes what it made (the MinIO, the namespace if it
# made it, its temporary folder) unless --keep.
#
# Environment (all optional):
#   DEEPAUG_REGISTRY        push the images to this registry (host[:port][/path]) instead of kind
#   KIND_CLUSTER            the kind cluster's name (default: from a context named kind-<name>)
#   DEEPAUG_K8S_CONTEXT     kubectl context (default: the current one)
#   DEEPAUG_K8S_NAMESPACE   namespace of the run (default: deepaug-e2e)
#   DEEPAUG_K8S_STORAGE     s3://bucket/prefix to use instead of the MinIO (credentials here:
#                           boto3's usual chain; in the pods: DEEPAUG_K8S_SECRET, a Secret in the
#                           namespace, or their service account); DEEPAUG_K8S_POD_S3_ENDPOINT: the
#                           endpoint the pods use, when not AWS
#   DEEPAUG_E2E_MINIO_IMAGE the MinIO image (default below); the cluster must be able to pull it
#   DEEPAUG_PYTHON          the Python with deepaug and its k8s and s3 extras (default: .venv/bin/python)
#   KUBECTL, KIND, DOCKER   the commands to run (default: from PATH)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DRY_RUN=0
KEEP=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "k8s-e2e: unknown argument $arg: use --dry-run, --keep or --help" >&2; exit 2 ;;
    esac
done

KUBECTL="${KUBECTL:-kubectl}"
KIND="${KIND:-kind}"
DOCKER="${DOCKER:-docker}"
PYTHON="${DEEPAUG_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
NAMESPACE="${DEEPAUG_K8S_NAMESPACE:-deepaug-e2e}"
REGISTRY="${DEEPAUG_REGISTRY:-}"
REGISTRY="${REGISTRY%/}"
CONTEXT="${DEEPAUG_K8S_CONTEXT:-}"
STORAGE="${DEEPAUG_K8S_STORAGE:-}"
S3_SECRET="${DEEPAUG_K8S_SECRET:-}"
POD_ENDPOINT="${DEEPAUG_K8S_POD_S3_ENDPOINT:-}"
MINIO_IMAGE="${DEEPAUG_E2E_MINIO_IMAGE:-quay.io/minio/minio:RELEASE.2024-12-18T13-15-44Z}"
MINIO=deepaug-minio
MINIO_SECRET=deepaug-e2e-s3
EXPERIMENT=k8s-e2e
IMAGES=400            # input images of the augment Job (digits' training split)
RUN_ID="run-$(date +%Y%m%d-%H%M%S)-$$"

say() { printf '==> %s\n' "$*"; }
fail() { printf 'k8s-e2e: %s\n' "$*" >&2; exit 1; }
# A command that changes something: printed under --dry-run, run otherwise.
act() {
    if [ "$DRY_RUN" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
CURRENT=""  # the kubectl context, once preflight found it
k() { if [ -n "$CURRENT" ]; then "$KUBECTL" --context "$CURRENT" "$@"; else "$KUBECTL" "$@"; fi; }
kc() { k -n "$NAMESPACE" "$@"; }

# ---------------------------------------------------------------- 1. what is needed

VERSION=""
KIND_NAME=""
BUILD=0
preflight() {
    local missing=() clusters
    if VERSION=$("$PYTHON" -c 'import deepaug, kubernetes, boto3; print(deepaug.__version__)' 2>/dev/null); then
        :
    else
        missing+=("deepaug with its k8s and s3 extras in $PYTHON (run scripts/setup.sh, or set DEEPAUG_PYTHON)")
        VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' deepaug/_version.py)
    fi
    command -v "$DOCKER" >/dev/null || missing+=("docker ($DOCKER), to build and load or push the images")
    if [ -z "$REGISTRY" ]; then
        command -v "$KIND" >/dev/null || missing+=("kind ($KIND), to load the images into a kind cluster; or set DEEPAUG_REGISTRY to push them to a registry the cluster pulls from")
    fi
    if ! command -v "$KUBECTL" >/dev/null; then
        missing+=("kubectl ($KUBECTL)")
    else
        if [ -n "$CONTEXT" ]; then
            if "$KUBECTL" config get-contexts "$CONTEXT" >/dev/null 2>&1; then
                CURRENT="$CONTEXT"
            else
                missing+=("the kubectl context $CONTEXT (DEEPAUG_K8S_CONTEXT): \`kubectl config get-contexts\` lists the others")
            fi
        elif ! CURRENT=$("$KUBECTL" config current-context 2>/dev/null) || [ -z "$CURRENT" ]; then
            missing+=("a cluster context: kubectl has no current context (make a cluster with \`kind create cluster\`, or pick one with \`kubectl config use-context\` or DEEPAUG_K8S_CONTEXT)")
            CURRENT=""
        fi
        if [ -n "$CURRENT" ]; then
            if ! k --request-timeout=15s auth can-i create jobs.batch -n "$NAMESPACE" >/dev/null 2>&1; then
                missing+=("an API server that answers and lets you create Jobs in namespace $NAMESPACE (context $CURRENT: \`kubectl auth can-i create jobs.batch -n $NAMESPACE\` says no or cannot connect)")
            fi
            if [ -z "$REGISTRY" ]; then
                KIND_NAME="${KIND_CLUSTER:-}"
                [ -n "$KIND_NAME" ] || case "$CURRENT" in kind-*) KIND_NAME="${CURRENT#kind-}" ;; esac
                clusters=$("$KIND" get clusters 2>/dev/null || true)
                if [ -z "$KIND_NAME" ]; then
                    missing+=("a kind cluster: context $CURRENT is not named kind-<name>; set KIND_CLUSTER, or DEEPAUG_REGISTRY to push the images to a registry instead")
                elif command -v "$KIND" >/dev/null && ! grep -qx "$KIND_NAME" <<<"$clusters"; then
                    missing+=("the kind cluster $KIND_NAME (\`kind get clusters\` does not list it)")
                fi
            fi
        fi
    fi
    if command -v "$DOCKER" >/dev/null && ! "$DOCKER" image inspect "deepaug:$VERSION" "deepaug-augment:$VERSION" >/dev/null 2>&1; then
        if [ -f scripts/build-image.sh ]; then
            BUILD=1
        else
            missing+=("the images deepaug:$VERSION and deepaug-augment:$VERSION (build them as k8s/README.md says)")
        fi
    fi
    if [ -n "$STORAGE" ] && [[ "$STORAGE" != s3://* ]]; then
        missing+=("an s3:// URI in DEEPAUG_K8S_STORAGE (got $STORAGE)")
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        printf 'k8s-e2e: missing, so nothing was started:\n' >&2
        printf '  - %s\n' "${missing[@]}" >&2
        [ "$DRY_RUN" = 1 ] || exit 1
        printf 'k8s-e2e: --dry-run goes on to print the steps\n' >&2
    fi
}

# ---------------------------------------------------------------- cleanup

WORK=""
PF_PID=""
MADE_NAMESPACE=0
MADE_MINIO=0
cleanup() {
    local code=$?
    if [ -n "$PF_PID" ]; then kill "$PF_PID" 2>/dev/null || true; fi
    if [ "$KEEP" = 1 ] && [ "$DRY_RUN" = 0 ]; then
        say "kept (--keep): namespace $NAMESPACE, $WORK"
    else
        if [ "$MADE_NAMESPACE" = 1 ]; then
            kc delete namespace "$NAMESPACE" --wait=false >/dev/null 2>&1 || true
        elif [ "$MADE_MINIO" = 1 ]; then
            kc delete deployment,service "$MINIO" --ignore-not-found >/dev/null 2>&1 || true
            kc delete secret "$MINIO_SECRET" --ignore-not-found >/dev/null 2>&1 || true
        fi
        if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
    fi
    exit "$code"
}
trap cleanup EXIT

# ---------------------------------------------------------------- manifests and config

minio_manifest() {
    cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $MINIO, namespace: $NAMESPACE, labels: {app.kubernetes.io/name: $MINIO}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: $MINIO}}
  template:
    metadata: {labels: {app.kubernetes.io/name: $MINIO}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001,
                        seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: minio
          image: $MINIO_IMAGE
          args: [server, /data, --address, ":9000", --certs-dir, /tmp/certs]
          env:   # from the Secret the script generated; its values are in no file and no log
            - {name: HOME, value: /tmp}
            - {name: MINIO_ROOT_USER, valueFrom: {secretKeyRef: {name: $MINIO_SECRET, key: AWS_ACCESS_KEY_ID}}}
            - {name: MINIO_ROOT_PASSWORD, valueFrom: {secretKeyRef: {name: $MINIO_SECRET, key: AWS_SECRET_ACCESS_KEY}}}
          ports: [{containerPort: 9000}]
          readinessProbe: {httpGet: {path: /minio/health/ready, port: 9000}, periodSeconds: 2}
          resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
                            capabilities: {drop: [ALL]}}
          volumeMounts: [{name: data, mountPath: /data}, {name: tmp, mountPath: /tmp}]
      volumes: [{name: data, emptyDir: {}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: $MINIO, namespace: $NAMESPACE}
spec:
  selector: {app.kubernetes.io/name: $MINIO}
  ports: [{port: 9000, targetPort: 9000}]
EOF
}

# The run's config: a tiny search on digits with executor kubernetes, then an augment Job on S3.
write_config() {
    local with_augment="$1" env_line="" secret_line="secret_name: null"
    [ -z "$POD_ENDPOINT" ] || env_line="AWS_ENDPOINT_URL: $POD_ENDPOINT, "
    [ -z "$S3_SECRET" ] || secret_line="secret_name: $S3_SECRET"
    cat <<EOF
dataset: digits
experiment_name: $EXPERIMENT
reports_dir: $WORK/reports
policies_dir: $WORK/policies
child_models_dir: /tmp/deepaug-child-models
search_space: deepaugment
iterations: 3
opt_initial_points: 2
opt_samples: 1
train_set_size: 200
validation_size: 200
child_epochs: 2
child_batch_size: 32
opt_last_n_epochs: 1
seed: 0
executor: kubernetes
workers: 2
kubernetes:
  image: $TRIAL_IMAGE
  augment_image: $AUGMENT_IMAGE
  image_pull_policy: IfNotPresent
  storage: $STORAGE/search
  namespace: $NAMESPACE
  context: ${CURRENT:-null}
  service_account: deepaug-worker
  $secret_line
  env: {${env_line}AWS_DEFAULT_REGION: us-east-1, AWS_EC2_METADATA_DISABLED: "true"}
  cpu: "1"
  memory: 2Gi
  backoff_limit: 1
  active_deadline_seconds: 1800
  ttl_seconds_after_finished: 600
EOF
    if [ "$with_augment" = 1 ]; then
        cat <<EOF
augment:
  executor: kubernetes
  input: $INPUT
  output: $STORAGE/augmented/{id}
  variants: 2
  shard_size: 200
  parallelism: 2
EOF
    fi
}

# ---------------------------------------------------------------- the steps

images() {
    if [ "$BUILD" = 1 ]; then
        say "building the images (scripts/build-image.sh)"
        act bash scripts/build-image.sh
    fi
    if [ -n "$REGISTRY" ]; then
        say "pushing the images to $REGISTRY"
        for image in deepaug deepaug-augment; do
            act "$DOCKER" tag "$image:$VERSION" "$REGISTRY/$image:$VERSION"
            act "$DOCKER" push "$REGISTRY/$image:$VERSION"
        done
    else
        say "loading the images into the kind cluster ${KIND_NAME:-<kind cluster>}"
        act "$KIND" load docker-image --name "${KIND_NAME:-kind}" "deepaug:$VERSION" "deepaug-augment:$VERSION"
    fi
}

namespace_and_rbac() {
    say "namespace $NAMESPACE and the RBAC of k8s/rbac.yaml"
    if [ "$DRY_RUN" = 1 ]; then
        act "$KUBECTL" create namespace "$NAMESPACE"
    elif ! k get namespace "$NAMESPACE" >/dev/null 2>&1; then
        k create namespace "$NAMESPACE" >/dev/null
        MADE_NAMESPACE=1
    fi
    write_config 0 >"$WORK/search.yaml"
    "$PYTHON" -m deepaug.cli k8s render --config "$WORK/search.yaml" --rbac-only >"$WORK/rbac.yaml"
    if [ "$DRY_RUN" = 1 ]; then
        echo "+ deepaug k8s render --config search.yaml --rbac-only | kubectl apply -f -"
        cat "$WORK/rbac.yaml"
    else
        kc apply -f "$WORK/rbac.yaml" >/dev/null
    fi
}

# Generated credentials go from Python into a Secret through a pipe: no file, no argument, no log.
minio_secret() {
    if kc get secret "$MINIO_SECRET" >/dev/null 2>&1; then  # a MinIO kept by --keep runs with these
        AWS_ACCESS_KEY_ID=$(kc get secret "$MINIO_SECRET" -o 'jsonpath={.data.AWS_ACCESS_KEY_ID}' | base64 -d)
        AWS_SECRET_ACCESS_KEY=$(kc get secret "$MINIO_SECRET" -o 'jsonpath={.data.AWS_SECRET_ACCESS_KEY}' | base64 -d)
        return
    fi
    AWS_ACCESS_KEY_ID="deepaug$("$PYTHON" -c 'import secrets; print(secrets.token_hex(6))')"
    AWS_SECRET_ACCESS_KEY=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(30))')
    kc create secret generic "$MINIO_SECRET" --dry-run=client -o yaml \
        --from-env-file=<(printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' \
                          "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") | kc apply -f - >/dev/null
}

# Where the run's data goes: DEEPAUG_K8S_STORAGE, else the script's MinIO (started by start_minio).
choose_storage() {
    if [ -n "$STORAGE" ]; then
        STORAGE="${STORAGE%/}/$RUN_ID"
    else
        STORAGE="s3://deepaug-e2e/$RUN_ID"
        POD_ENDPOINT="http://$MINIO.$NAMESPACE.svc:9000"
        S3_SECRET="$MINIO_SECRET"
    fi
}

start_minio() {
    if [ -n "${DEEPAUG_K8S_STORAGE:-}" ]; then
        say "S3 storage: $STORAGE (DEEPAUG_K8S_STORAGE)"
        return
    fi
    say "MinIO in namespace $NAMESPACE (credentials generated into Secret $MINIO_SECRET, not shown)"
    if [ "$DRY_RUN" = 1 ]; then
        echo "+ kubectl create secret generic $MINIO_SECRET (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY generated now; never printed)"
        echo "+ kubectl apply -f - <<the MinIO manifest>>"
        minio_manifest
        echo "+ kubectl port-forward service/$MINIO <free port>:9000  (this machine's S3 endpoint)"
        return
    fi
    MADE_MINIO=1
    minio_secret
    minio_manifest | kc apply -f - >/dev/null
    kc rollout status "deployment/$MINIO" --timeout=300s
    local port
    port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    kc port-forward "service/$MINIO" "$port:9000" >"$WORK/port-forward.log" 2>&1 &
    PF_PID=$!
    for _ in $(seq 60); do
        "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
        sleep 1
    done
    unset AWS_PROFILE AWS_SESSION_TOKEN
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    export AWS_DEFAULT_REGION=us-east-1
}

search_and_augment() {
    say "the input: $IMAGES digits images as an .npz in $STORAGE/input/"
    if [ "$DRY_RUN" = 1 ]; then
        INPUT="$STORAGE/input/digits-train.npz"
        echo "+ python scripts/k8s_e2e_check.py prepare $STORAGE $IMAGES"
    else
        INPUT=$("$PYTHON" scripts/k8s_e2e_check.py prepare "$STORAGE" "$IMAGES" \
                ${AWS_ENDPOINT_URL:+--create-bucket})
    fi
    write_config 1 >"$WORK/run.yaml"
    say "the config ($WORK/run.yaml)"
    cat "$WORK/run.yaml"
    say "the Jobs it submits, each with its image (deepaug k8s render)"
    if [ "$DRY_RUN" = 1 ]; then  # the augment Job is rendered from the input's listing, which needs the S3
        "$PYTHON" -m deepaug.cli k8s render --config "$WORK/search.yaml" --job-only
        echo "# (the augment Job is shown in a real run: rendering it lists the input on S3)"
        echo "+ deepaug k8s render --config run.yaml --job-only | kubectl apply --dry-run=server -f -"
        echo "+ deepaug run --config run.yaml"
        echo "+ python scripts/k8s_e2e_check.py check <reports>/experiments/$EXPERIMENT $IMAGES"
        return
    fi
    "$PYTHON" -m deepaug.cli k8s render --config "$WORK/run.yaml" --job-only >"$WORK/jobs.yaml"
    grep -E '^# |^  *image:' "$WORK/jobs.yaml"
    kc apply --dry-run=server -f "$WORK/jobs.yaml" >/dev/null  # the API server's own validation
    say "deepaug run: the search's trials as Jobs, then the augment Indexed Job"
    "$PYTHON" -m deepaug.cli run --config "$WORK/run.yaml"
    say "checking the results"
    "$PYTHON" scripts/k8s_e2e_check.py check "$WORK/reports/experiments/$EXPERIMENT" "$IMAGES"
}

cluster_test() {
    say "the real-cluster test (tests/kubernetes/test_k8s_cluster.py)"
    local kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
    local test_env=(KUBECONFIG="$kubeconfig" DEEPAUG_K8S_IMAGE="$TRIAL_IMAGE"
                    DEEPAUG_K8S_STORAGE="$STORAGE/cluster-test" DEEPAUG_K8S_NAMESPACE="$NAMESPACE"
                    DEEPAUG_K8S_SERVICE_ACCOUNT=deepaug-worker DEEPAUG_K8S_SECRET="$S3_SECRET"
                    DEEPAUG_K8S_POD_S3_ENDPOINT="$POD_ENDPOINT" DEEPAUG_K8S_CONTEXT="$CURRENT")
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ %s python -m pytest -rA tests/kubernetes/test_k8s_cluster.py\n' "${test_env[*]}"
        return
    fi
    if ! env "${test_env[@]}" PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 "$PYTHON" -m pytest -q -rA -p no:cacheprovider \
            tests/kubernetes/test_k8s_cluster.py | tee "$WORK/cluster-test.log"; then
        fail "the real-cluster test failed (see above; \`kubectl -n $NAMESPACE get jobs,pods\` shows what is left)"
    fi
    grep -q "1 passed" "$WORK/cluster-test.log" || fail "the real-cluster test did not run (skipped? see above)"
}

preflight
[ "$DRY_RUN" = 0 ] || say "dry run: nothing is applied, pushed or started"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/deepaug-k8s-e2e.XXXXXX")
if [ -n "$REGISTRY" ]; then
    TRIAL_IMAGE="$REGISTRY/deepaug:$VERSION" AUGMENT_IMAGE="$REGISTRY/deepaug-augment:$VERSION"
else
    TRIAL_IMAGE="deepaug:$VERSION" AUGMENT_IMAGE="deepaug-augment:$VERSION"
fi
INPUT=""
choose_storage
images
namespace_and_rbac
start_minio
search_and_augment
cluster_test
if [ "$DRY_RUN" = 1 ]; then
    say "dry run done"
else
    say "end to end on the cluster: passed"
fi
