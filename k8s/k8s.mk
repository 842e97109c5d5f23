# k8s/k8s.mk — container images and Kubernetes manifests. The root Makefile
# includes it (`include k8s/k8s.mk`); it also works alone, from the repository
# root: `make -f k8s/k8s.mk k8s-check`.
#
#   make k8s-check   render every overlay with `kubectl kustomize`, validate each
#                    object against Kubernetes $(K8S_VERSION)'s schemas
#                    (kubernetes-validate, strict), lint the Dockerfile (hadolint)
#                    and test the manifests' properties (k8s/test_manifests.py).
#                    The Python tools go into a venv under the cargo target
#                    directory, installed again only when k8s/requirements.txt
#                    changes. Needs kubectl and python3; part of `make test`.
#   make image       build the images leadflow/{leads,routing,notifier,leadflow}:$(VERSION)
#                    from the one Dockerfile (needs Docker with BuildKit).

# Wherever the include sits, the including Makefile keeps its default goal.
K8S_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

K8S_VERSION ?= 1.31.0
K8S_TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
K8S_VENV ?= $(K8S_TARGET_DIR)/k8s-venv
K8S_OUT ?= $(K8S_TARGET_DIR)/k8s-rendered
KUBECTL ?= kubectl
PYTHON3 ?= python3

DOCKER ?= docker
IMAGE_REPO ?= leadflow
IMAGE_TARGETS := leads routing notifier leadflow
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: k8s-check image

k8s-check:
	@K8S_VERSION=$(K8S_VERSION) K8S_VENV=$(K8S_VENV) K8S_OUT=$(K8S_OUT) \
	KUBECTL=$(KUBECTL) PYTHON3=$(PYTHON3) bash k8s/check.sh

## One image per service (`--target`), plus the all-in-one `leadflow` (with leadctl).
## BuildKit caches the builder stage, so the four builds compile once.
image:
	@for target in $(IMAGE_TARGETS); do \
	  echo "building $(IMAGE_REPO)/$$target:$(VERSION)"; \
	  DOCKER_BUILDKIT=1 $(DOCKER) build --target $$target --build-arg VERSION=$(VERSION) \
	    -t $(IMAGE_REPO)/$$target:$(VERSION) . || exit 1; \
	done

.DEFAULT_GOAL := $(K8S_SAVED_DEFAULT_GOAL)
