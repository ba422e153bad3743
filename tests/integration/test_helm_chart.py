"""The Helm chart (ops/helm/release-gate) renders, and every object it renders is valid.

Helm is the real binary that ops/k8s-tools.sh builds into .local/bin/helm (`make k8s-tools`);
the object schemas are Kubernetes' own OpenAPI schemas for 1.37 from the kubernetes-validate
wheel, in strict mode (an unknown or misspelt field is an error). ServiceMonitor and
PrometheusRule are prometheus-operator CRDs, absent from those schemas: they are checked by
shape, and the rules against ops/prometheus/rules. No cluster, Kafka or store is needed.

Also here, since it is what the chart runs: the image (ops/Dockerfile) is checked statically.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from inspect import signature
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aiokafka import AIOKafkaConsumer

from service.adapters.governance_file import trusts_published_keys
from service.domain.governance import parse_governance
from service.settings import SECRET_FILES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "ops" / "helm" / "release-gate"
PRODUCTION_VALUES = ROOT / "ops" / "helm" / "production-values.yaml"
RULES = ROOT / "ops" / "prometheus" / "rules"
CHART_RULES = CHART / "files" / "prometheus"
DOCKERFILE = ROOT / "ops" / "Dockerfile"
DOCKERIGNORE = ROOT / "ops" / "Dockerfile.dockerignore"
HELM = ROOT / ".local" / "bin" / "helm"
KUBE_VERSION = "1.37.0"
CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
WORKLOAD_KINDS = {"StatefulSet", "Deployment"}
# /readyz pings the store, then Kafka, each with a 2 s timeout (service/entrypoints/http.py).
READYZ_WORST_CASE_SECONDS = 2 + 2

Doc = dict[str, Any]

# Values that the "with-secret" render puts into the chart-made Secret: they must appear in
# no other object, in no form.
SENTINELS = {
    "mongodbUrl": "mongodb://gate:sentinel-mongo-pw@mongo-0.example:27017/?replicaSet=rs0",
    "kafkaSaslPassword": "sentinel-sasl-pw-7f3c",
    "sessionSecret": "sentinel-session-secret-91ab",
    "kafkaSslKeyPassword": "sentinel-key-pw-2d6e",
}
WITH_SECRET = (
    "--set",
    "credentials.create=true",
    "--set",
    "kafka.tls.clientCertificate=true",
    "--set",
    "credentials.keys.kafkaSslKeyPassword=kafka-ssl-key-password",
    *(
        arg
        for name, value in SENTINELS.items()
        for arg in ("--set-string", f"credentials.values.{name}={value}")
    ),
)
RENDERS: dict[str, tuple[str, ...]] = {
    "default": (),
    "production": ("-f", str(PRODUCTION_VALUES)),
    "with-secret": WITH_SECRET,
    "deployment": ("--set", "kind=Deployment"),
}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), f"{HELM} missing: run `make k8s-tools` (ops/k8s-tools.sh) first"
    return subprocess.run(
        [str(HELM), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def template(*args: str) -> subprocess.CompletedProcess[str]:
    return helm(
        "template",
        "release-gate",
        str(CHART),
        "--namespace",
        "release-gate",
        "--kube-version",
        KUBE_VERSION,
        *args,
    )


@cache
def rendered(name: str) -> tuple[Doc, ...]:
    result = template(*RENDERS[name])
    assert result.returncode == 0, result.stderr
    docs = tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)
    assert docs, "helm template rendered nothing"
    return docs


def refused(*args: str) -> str:
    """helm template's error text; fails the test if it rendered."""
    result = template(*args)
    assert result.returncode != 0, f"rendered with {args}, expected a refusal"
    return result.stderr


def only(docs: tuple[Doc, ...], kind: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def workload(docs: tuple[Doc, ...]) -> Doc:
    found = [doc for doc in docs if doc["kind"] in WORKLOAD_KINDS]
    assert len(found) == 1, [doc["kind"] for doc in docs]
    return found[0]


def pod(docs: tuple[Doc, ...]) -> Doc:
    spec: Doc = workload(docs)["spec"]["template"]["spec"]
    return spec


def container(docs: tuple[Doc, ...]) -> Doc:
    containers = pod(docs)["containers"]
    assert len(containers) == 1
    c: Doc = containers[0]
    return c


def env(docs: tuple[Doc, ...]) -> dict[str, Doc]:
    entries = container(docs)["env"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"a variable set twice: {names}"
    return {entry["name"]: entry for entry in entries}


def plain_env(docs: tuple[Doc, ...]) -> dict[str, str]:
    return {name: entry["value"] for name, entry in env(docs).items() if "value" in entry}


def mount_of(docs: tuple[Doc, ...], path: str) -> tuple[Doc, Doc]:
    """The volumeMount holding `path` and the volume behind it."""
    mounts = [
        m
        for m in container(docs)["volumeMounts"]
        if PurePosixPath(m["mountPath"]) in PurePosixPath(path).parents
    ]
    assert len(mounts) == 1, f"{path}: mounted by {mounts}"
    volumes = {v["name"]: v for v in pod(docs)["volumes"]}
    return mounts[0], volumes[mounts[0]["name"]]


def rule_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.yml"))
    assert files, f"no rule files in {folder}"
    return files


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)
    else:
        yield str(value)


# -- Helm and the schemas ------------------------------------------------------------------


def test_helm_is_the_pinned_version_stamped_for_kubernetes_1_37() -> None:
    result = helm("version", "--template", "{{.Version}}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "v3.22.0"
    # Unstamped, helm would assume Kubernetes 1.20 without a cluster to ask, and refuse the
    # chart's kubeVersion (>= 1.29).
    result = helm("template", "release-gate", str(CHART))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "values", [(), ("-f", str(PRODUCTION_VALUES))], ids=["default", "production"]
)
def test_helm_lint_passes_strictly(values: tuple[str, ...]) -> None:
    result = helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_every_rendered_object_validates_against_the_kubernetes_schemas(name: str) -> None:
    checked = []
    for doc in rendered(name):
        if (doc["apiVersion"], doc["kind"]) in CRDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}"
            )
        checked.append(doc["kind"])
    assert {"Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"} <= set(checked)
    assert WORKLOAD_KINDS & set(checked)


def test_the_renders_here_cover_every_kind_of_object_the_chart_makes() -> None:
    kinds = {doc["kind"] for name in RENDERS for doc in rendered(name)}
    templates = {p.name for p in (CHART / "templates").glob("*.yaml")}
    assert kinds == {
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "StatefulSet",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
    }, f"templates: {sorted(templates)}"


def test_the_default_render_runs_a_statefulset_and_the_production_values_keep_it() -> None:
    # Stable pod names are what make GROUP_INSTANCE_ID (the pod name) survive a restart.
    assert workload(rendered("default"))["kind"] == "StatefulSet"
    assert workload(rendered("production"))["kind"] == "StatefulSet"
    statefulset = workload(rendered("default"))
    assert (
        statefulset["spec"]["serviceName"]
        == only(rendered("default"), "Service")["metadata"]["name"]
    )


def test_a_deployment_rollout_never_runs_more_members_than_partitions() -> None:
    deployment = workload(rendered("deployment"))
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


# -- the pod -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_the_pod_runs_as_non_root_with_a_read_only_root_filesystem(name: str) -> None:
    docs = rendered(name)
    pod_context, context = pod(docs)["securityContext"], container(docs)["securityContext"]
    assert pod_context["runAsNonRoot"] is True and context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] == context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"]
    assert pod_context["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod(docs)["automountServiceAccountToken"] is False
    # The one writable place is an emptyDir at /tmp.
    mount, volume = mount_of(docs, "/tmp/x")
    assert mount["mountPath"] == "/tmp" and "emptyDir" in volume
    writable = [m for m in container(docs)["volumeMounts"] if not m.get("readOnly")]
    assert writable == [mount]


@pytest.mark.parametrize("name", ["default", "production"])
def test_the_probes_are_healthz_for_liveness_and_start_up_and_readyz_for_readiness(
    name: str,
) -> None:
    c = container(rendered(name))
    port = {p["name"]: p["containerPort"] for p in c["ports"]}[
        c["readinessProbe"]["httpGet"]["port"]
    ]
    assert port == int(plain_env(rendered(name))["HTTP_PORT"]) == 8080
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("name", ["default", "production"])
def test_readiness_probes_readyz_with_a_timeout_longer_than_its_two_pings(name: str) -> None:
    readiness = container(rendered(name))["readinessProbe"]
    assert readiness["httpGet"]["path"] == "/readyz"
    assert readiness["timeoutSeconds"] > READYZ_WORST_CASE_SECONDS
    assert readiness["periodSeconds"] == 10
    assert readiness["failureThreshold"] == 3


def test_the_chart_refuses_a_readiness_timeout_shorter_than_readyz_takes() -> None:
    assert "at least 5" in refused("--set", "probes.readiness.timeoutSeconds=3")


@pytest.mark.parametrize("name", ["default", "production"])
def test_the_drain_on_sigterm_fits_within_the_termination_grace_period(name: str) -> None:
    docs = rendered(name)
    grace = pod(docs)["terminationGracePeriodSeconds"]
    drain = float(plain_env(docs)["SHUTDOWN_GRACE_SECONDS"])
    assert drain + 10 <= grace
    too_long = ("--set", f"shutdownGraceSeconds={grace - 5}")
    assert "mid-drain" in refused(*too_long, "--set", f"terminationGracePeriodSeconds={grace}")


def test_the_default_grace_period_is_60_seconds() -> None:
    assert pod(rendered("default"))["terminationGracePeriodSeconds"] == 60


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_group_instance_id_comes_from_the_pod_name(name: str) -> None:
    entry = env(rendered(name))["GROUP_INSTANCE_ID"]
    assert "value" not in entry
    assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


@pytest.mark.parametrize("name", ["default", "production"])
def test_replicas_are_at_most_the_topic_partitions_the_chart_sets(name: str) -> None:
    docs = rendered(name)
    replicas = workload(docs)["spec"]["replicas"]
    assert 1 <= replicas <= int(plain_env(docs)["TOPIC_PARTITIONS"])


def test_the_default_is_three_replicas_on_three_partitions() -> None:
    docs = rendered("default")
    assert workload(docs)["spec"]["replicas"] == 3
    assert plain_env(docs)["TOPIC_PARTITIONS"] == "3"


def test_the_chart_refuses_more_replicas_than_partitions() -> None:
    assert "exceeds topics.partitions" in refused("--set", "replicas=4")
    assert template("--set", "replicas=6", "--set", "topics.partitions=6").returncode == 0


@pytest.mark.parametrize("name", ["default", "production"])
def test_topics_are_created_for_a_cluster_and_http_listens_for_the_pod_network(name: str) -> None:
    values = plain_env(rendered(name))
    assert values["TOPIC_REPLICATION_FACTOR"] == "3"
    assert values["TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    assert values["HTTP_HOST"] == "0.0.0.0"
    assert values["HTTP_PORT"] == "8080"
    assert values["SESSION_COOKIE_SECURE"] == "true"


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_secrets_reach_the_container_only_as_files(name: str) -> None:
    docs = rendered(name)
    c = container(docs)
    assert "envFrom" not in c
    for var, entry in env(docs).items():
        assert "secretKeyRef" not in entry.get("valueFrom", {}), var
        assert "configMapKeyRef" not in entry.get("valueFrom", {}), var
    secrets = {name.upper() for name in SECRET_FILES}
    assert secrets.isdisjoint(env(docs)), "a secret setting given as a value"
    files = {
        var: e["value"] for var, e in env(docs).items() if var.removesuffix("_FILE") in secrets
    }
    assert "MONGODB_URL_FILE" in files and "SESSION_SECRET_FILE" in files
    # The TLS material is a secret too: the client key above all; and the gate's signing key.
    files |= {var: e["value"] for var, e in env(docs).items() if var.startswith("KAFKA_SSL_")}
    files["GATE_KEY_FILE"] = env(docs)["GATE_KEY_FILE"]["value"]
    for var, path in files.items():
        mount, volume = mount_of(docs, path)
        assert "secret" in volume, f"{var}={path} is not in a mounted Secret"
        assert mount["readOnly"] is True and "subPath" not in mount
        assert "items" not in volume["secret"], (
            "items would pin the key set; mount the whole Secret"
        )
        assert volume["secret"]["defaultMode"] & 0o007 == 0, "secret files readable by others"


def test_the_mtls_files_and_ca_come_from_the_mounted_tls_secret() -> None:
    docs = rendered("production")
    values = plain_env(docs)
    tls_secret = "release-gate-kafka-client"
    for var in ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"):
        _, volume = mount_of(docs, values[var])
        assert volume["secret"]["secretName"] == tls_secret, var
    assert env(docs)["KAFKA_SSL_KEY_PASSWORD_FILE"]["value"].startswith(
        "/etc/release-gate/secrets/"
    )
    assert values["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_the_gate_key_is_read_from_the_named_existing_secret_mounted_read_only(name: str) -> None:
    docs = rendered(name)
    path = plain_env(docs)["GATE_KEY_FILE"]
    assert path == "/etc/release-gate/gate-key/gate-key.pem"
    mount, volume = mount_of(docs, path)
    assert mount["readOnly"] is True and "subPath" not in mount
    assert volume["secret"]["secretName"] == "release-gate-gate-key"
    # The chart never writes the key: it is in no Secret the chart makes.
    made = [d for d in docs if d["kind"] == "Secret"]
    assert all(d["metadata"]["name"] != "release-gate-gate-key" for d in made)
    assert all("gate-key.pem" not in d.get("data", {}) for d in made)


def test_the_chart_takes_another_secret_and_key_for_the_gate_key_and_refuses_none() -> None:
    result = template("--set", "gateKey.secretName=signing", "--set", "gateKey.key=ed25519.pem")
    assert result.returncode == 0, result.stderr
    docs = tuple(d for d in yaml.safe_load_all(result.stdout) if d)
    _, volume = mount_of(docs, plain_env(docs)["GATE_KEY_FILE"])
    assert plain_env(docs)["GATE_KEY_FILE"].endswith("/ed25519.pem")
    assert volume["secret"]["secretName"] == "signing"
    assert "does not start without its key" in refused("--set", "gateKey.secretName=")


def test_no_secret_value_appears_in_any_object_but_the_secret() -> None:
    docs = rendered("with-secret")
    secret = only(docs, "Secret")
    stored = {base64.b64decode(v).decode() for v in secret["data"].values()}
    assert stored == set(SENTINELS.values()), "the render did not carry the sentinel secrets"
    forms = {
        form for v in SENTINELS.values() for form in (v, base64.b64encode(v.encode()).decode())
    }
    for doc in docs:
        if doc is secret:
            continue
        leaked = [s for s in walk_strings(doc) for form in forms if form in s]
        assert leaked == [], f"{doc['kind']} carries a secret value"


def test_without_sasl_no_password_file_is_asked_for() -> None:
    docs = template("--set", "kafka.securityProtocol=SSL")
    assert docs.returncode == 0, docs.stderr
    names = {
        e["name"]
        for d in yaml.safe_load_all(docs.stdout)
        if d and d["kind"] == "StatefulSet"
        for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "KAFKA_SASL_PASSWORD_FILE" not in names and "KAFKA_SSL_CAFILE" in names


# -- the service's settings ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_every_variable_the_chart_sets_is_a_setting_the_service_knows(name: str) -> None:
    known = {field.upper() for field in Settings.model_fields}
    known |= {f"{secret.upper()}_FILE" for secret in SECRET_FILES}
    assert set(env(rendered(name))) - known == set()


@pytest.mark.parametrize("name", ["default", "production"])
def test_the_service_accepts_the_rendered_environment(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for secret in SECRET_FILES:
        monkeypatch.delenv(f"{secret.upper()}_FILE", raising=False)
    values = plain_env(rendered(name))
    # The secret files exist only in the pod; the value types are what is checked here.
    secret_files = {f"{secret.upper()}_FILE" for secret in SECRET_FILES}
    for var, value in values.items():
        if var not in secret_files:
            monkeypatch.setenv(var, value)
    monkeypatch.setenv("GROUP_INSTANCE_ID", "release-gate-0")
    settings = load_settings()
    assert settings.http_host == "0.0.0.0"
    assert settings.topic_replication_factor == 3
    assert settings.topic_min_insync_replicas == 2
    assert settings.session_cookie_secure is True
    assert settings.group_instance_id == "release-gate-0"
    assert str(settings.governance_file) == "/etc/release-gate/governance/lanes.yaml"
    assert settings.session_timeout_ms >= settings.heartbeat_interval_ms * 3
    # Long enough for a pod to be replaced without a rebalance, yet a JoinGroup (which the
    # broker may hold for a session timeout) must not outlast the client's request timeout.
    request_timeout = signature(AIOKafkaConsumer).parameters["request_timeout_ms"].default
    assert 20_000 <= settings.session_timeout_ms < request_timeout


# -- governance ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_the_governance_configmap_is_mounted_as_a_directory(name: str) -> None:
    docs = rendered(name)
    governance_file = PurePosixPath(plain_env(docs)["GOVERNANCE_FILE"])
    mount, volume = mount_of(docs, str(governance_file))
    # A subPath mount is a bind of one file: the kubelet's symlink swap never reaches it.
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert PurePosixPath(mount["mountPath"]) == governance_file.parent
    assert "items" not in volume["configMap"]
    configmaps = [d for d in docs if d["kind"] == "ConfigMap"]
    if configmaps:
        assert volume["configMap"]["name"] == configmaps[0]["metadata"]["name"]
        assert governance_file.name in configmaps[0]["data"]


def test_the_chart_default_governance_is_valid_and_trusts_no_published_key() -> None:
    configmap = only(rendered("default"), "ConfigMap")
    governance = parse_governance(configmap["data"]["lanes.yaml"])
    assert governance.lanes
    assert trusts_published_keys(governance) == []


def test_a_rollout_is_not_triggered_by_a_governance_edit() -> None:
    # The service reloads the file itself; a checksum annotation would restart every pod.
    one = workload(rendered("default"))
    edited = template("--set-string", "governance.lanesYaml=lanes: []")
    assert edited.returncode == 0, edited.stderr
    other = next(d for d in yaml.safe_load_all(edited.stdout) if d and d["kind"] == "StatefulSet")
    assert one["spec"]["template"] == other["spec"]["template"]


# -- Service, PDB, NetworkPolicy -----------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "production"])
def test_the_service_and_the_pdb_select_exactly_the_gate_pods(name: str) -> None:
    docs = rendered(name)
    labels = workload(docs)["spec"]["template"]["metadata"]["labels"]
    service = only(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 8080
    assert {p["name"]: p["containerPort"] for p in container(docs)["ports"]}[
        port["targetPort"]
    ] == 8080
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("name", ["default", "production"])
def test_the_network_policy_admits_only_http_and_lets_out_only_kafka_mongodb_and_dns(
    name: str,
) -> None:
    docs = rendered(name)
    policy = only(docs, "NetworkPolicy")["spec"]
    labels = workload(docs)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    for rule in policy["ingress"]:
        assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
        assert rule["from"], "an ingress rule without `from` admits every pod"
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    kafka_ports = {
        int(a.rsplit(":", 1)[1]) for a in plain_env(docs)["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    }
    assert {(p, "TCP") for p in kafka_ports} <= egress_ports
    assert egress_ports - {(p, "TCP") for p in kafka_ports} == {
        (27017, "TCP"),
        (53, "UDP"),
        (53, "TCP"),
    }


def test_the_chart_refuses_a_network_policy_open_to_every_pod() -> None:
    assert "ingressFrom is empty" in refused("--set", "networkPolicy.ingressFrom=null")


# -- monitoring ----------------------------------------------------------------------------


def test_the_chart_copy_of_the_rules_equals_ops_prometheus_rules_byte_for_byte() -> None:
    ours, theirs = rule_files(CHART_RULES), rule_files(RULES)
    assert [p.name for p in ours] == [p.name for p in theirs]
    for mine, source in zip(ours, theirs, strict=True):
        assert mine.read_bytes() == source.read_bytes(), (
            f"{mine.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: cp it over"
        )


@pytest.mark.parametrize("name", ["default", "production"])
def test_the_prometheusrule_holds_exactly_the_groups_of_ops_prometheus_rules(name: str) -> None:
    rule = only(rendered(name), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] and rule["metadata"]["labels"]
    expected = [g for path in rule_files(RULES) for g in yaml.safe_load(path.read_text())["groups"]]
    assert rule["spec"]["groups"] == expected
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and r["expr"], r
    if name == "production":
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@pytest.mark.parametrize("name", ["default", "production"])
def test_the_servicemonitor_scrapes_metrics_under_the_job_name_the_rules_use(name: str) -> None:
    docs = rendered(name)
    monitor, service = only(docs, "ServiceMonitor"), only(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["name"]
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"]["matchNames"] == ["release-gate"]
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert re.fullmatch(r"\d+[smh]", endpoint["interval"])
    # The alerts say up{job="release-gate"}: the job is the value of the jobLabel label.
    alerts = (RULES / "alerts.yml").read_text()
    job = re.search(r'up\{job="([^"]+)"\}', alerts)
    assert job is not None
    assert service["metadata"]["labels"][spec["jobLabel"]] == job.group(1)


def test_servicemonitor_and_prometheusrule_can_be_turned_off() -> None:
    result = template(
        "--set", "serviceMonitor.enabled=false", "--set", "prometheusRule.enabled=false"
    )
    assert result.returncode == 0, result.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(result.stdout) if d}
    assert kinds.isdisjoint({"ServiceMonitor", "PrometheusRule"}) and "StatefulSet" in kinds


# -- the image -----------------------------------------------------------------------------


def test_the_production_values_pull_the_image_by_digest() -> None:
    image = container(rendered("production"))["image"]
    assert re.fullmatch(r"[^@\s]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image
    assert "digest" in refused("--set", "image.digest=latest")


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped) per stage."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_base_is_pinned_by_digest() -> None:
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*@sha256:[0-9a-f]{64}", bases[0]), bases[0]
    for stage in dockerfile_stages():
        assert stage[0].split()[1] in {"${PYTHON_IMAGE}", "$PYTHON_IMAGE"}, stage[0]


def test_the_final_image_holds_no_build_tools_and_no_demo_key() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "expected a build stage and a final stage"
    build, final = stages[0], stages[-1]
    assert any("uv sync --frozen --no-dev" in line for line in build)
    runs = [line for line in final if line.startswith("RUN")]
    assert not any(re.search(r"\b(pip|uv) (install|sync)\b|apt-get", line) for line in runs), runs
    assert any(re.search(r"pip uninstall -y\b.*\bpip\b", line) for line in runs), "pip stays"
    # Only the built venv and the service's code come in.
    copies = [line.split()[1:] for line in final if line.startswith("COPY")]
    assert copies == [["--from=build", "/app/.venv", "/app/.venv"], ["service/", "service/"]]
    assert not any(
        "governance" in line or "demo-keys" in line for line in final[1:] if "ENV" not in line
    )
    # The build context itself admits neither the demo keys nor the governance file.
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert not [rule for rule in rules if rule.startswith("!") and "ops" in rule], rules


def test_the_image_listens_for_a_pod_and_checks_its_health_on_readyz() -> None:
    final = dockerfile_stages()[-1]
    text = " ".join(final)
    assert re.search(r"HTTP_HOST=0\.0\.0\.0\b", text)
    (check,) = [line for line in final if line.startswith("HEALTHCHECK")]
    assert "/readyz" in check and "/healthz" not in check
    (user,) = [line for line in final if line.startswith("USER")]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (
        user.split()[1]
        == f"{values['securityContext']['runAsUser']}:{values['securityContext']['runAsGroup']}"
    )
