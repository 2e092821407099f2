//! A synthetic cluster as the Kubernetes API serves it: Pod, Service, Node, ReplicaSet and Job
//! objects in the API's JSON, with what real objects carry besides what enrichment reads
//! (containers with env, probes and resources, conditions, container statuses, labels,
//! annotations, `managedFields`), so that the decoding and memory of a cache fed from it are
//! those of a real cluster. The same names and addresses as [`crate::kube_cluster`].

use serde_json::{Value, json};

use crate::ClusterSize;

fn node_name(i: usize) -> String {
    format!("ip-10-0-{}-{}.ec2.internal", i / 256, i % 256)
}

fn ns(i: usize) -> String {
    format!("team-{:02}-applications", i % 100)
}

fn rs_name(i: usize) -> String {
    format!("deployment-{:05}-5d4f8b7c{}", i / 5, i % 5)
}

fn v4(base: u32, i: usize) -> String {
    std::net::Ipv4Addr::from(base + i as u32).to_string()
}

fn managed_fields(manager: &str) -> Value {
    json!([{
        "manager": manager,
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-11-30T08:12:44Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                "f:ownerReferences": {".": {}, "k:{\"uid\":\"0\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {},
                "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {}, "f:resources": {}}}}
        }
    }])
}

/// A pod as the API serves it (about 4 KB of JSON).
fn pod(i: usize, size: &ClusterSize) -> Value {
    let rs = i % size.replica_sets.max(1);
    let n = i % size.nodes.max(1);
    let ip = v4(0x0a80_0000, i + 1);
    let mut ips = vec![json!({"ip": ip})];
    if i.is_multiple_of(4) {
        let ip6 = std::net::Ipv6Addr::from(0xfd01_u128 << 112 | (i as u128 + 1));
        ips.push(json!({"ip": ip6.to_string()}));
    }
    let name = format!("{}-{i:05}", rs_name(rs));
    let deployment = format!("deployment-{:05}", rs / 5);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": format!("{}-", rs_name(rs)),
            "namespace": ns(rs / 5),
            "uid": format!("p{i:07}-1111-2222-3333-444444444444"),
            "creationTimestamp": "2026-11-30T08:12:44Z",
            "labels": {"app": deployment, "pod-template-hash": "5d4f8b7c", "team": ns(rs / 5),
                "app.kubernetes.io/version": "1.24.3"},
            "annotations": {"k8s.ovn.org/pod-networks": format!("{{\"default\":{{\"ip_addresses\":[\"{ip}/23\"],\"mac_address\":\"0a:58:0a:80:00:07\",\"gateway_ips\":[\"10.128.0.1\"],\"role\":\"primary\"}}}}"),
                "prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name(rs),
                "uid": format!("{rs:08}-aaaa-bbbb-cccc-dddddddddddd"), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": managed_fields("kube-controller-manager")
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": format!("registry.example.com/{deployment}:1.24.3"),
                "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}, {"containerPort": 9090, "protocol": "TCP", "name": "metrics"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                    {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}],
                "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1},
                "livenessProbe": {"httpGet": {"path": "/live", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1},
                "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"
            }],
            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": node_name(n),
            "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0,
            "enableServiceLinks": true
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-30T08:12:44Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-30T08:12:51Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-30T08:12:51Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-30T08:12:44Z"}
            ],
            "hostIP": v4(0x0a00_0000, n + 1),
            "hostIPs": [{"ip": v4(0x0a00_0000, n + 1)}],
            "podIP": ip,
            "podIPs": ips,
            "startTime": "2026-11-30T08:12:44Z",
            "containerStatuses": [{"name": "app", "state": {"running": {"startedAt": "2026-11-30T08:12:49Z"}},
                "ready": true, "restartCount": 0, "image": format!("registry.example.com/{deployment}:1.24.3"),
                "imageID": "registry.example.com/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "containerID": format!("cri-o://{i:064}"), "started": true}],
            "qosClass": "Burstable"
        }
    })
}

fn service(i: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": format!("service-{i:05}"), "namespace": ns(i), "uid": format!("s{i:07}-1111-2222-3333-444444444444"),
            "labels": {"app": format!("deployment-{i:05}")}, "managedFields": managed_fields("kubectl")},
        "spec": {"type": "ClusterIP", "clusterIP": v4(0xac1e_0000, i + 1), "clusterIPs": [v4(0xac1e_0000, i + 1)],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "selector": {"app": format!("deployment-{i:05}")}, "sessionAffinity": "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {}}
    })
}

fn node(i: usize) -> Value {
    let zone = format!("us-east-1{}", ["a", "b", "c"][i % 3]);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node_name(i), "uid": format!("n{i:07}-1111-2222-3333-444444444444"),
            "labels": {"kubernetes.io/hostname": node_name(i), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "m5.2xlarge", "topology.kubernetes.io/region": "us-east-1",
                "topology.kubernetes.io/zone": zone},
            "managedFields": managed_fields("kubelet")},
        "spec": {"podCIDR": "10.128.0.0/23", "providerID": format!("aws:///{zone}/i-{i:017x}")},
        "status": {
            "addresses": [{"type": "InternalIP", "address": v4(0x0a00_0000, i + 1)}, {"type": "Hostname", "address": node_name(i)}],
            "capacity": {"cpu": "8", "memory": "32386524Ki", "pods": "250"},
            "allocatable": {"cpu": "7500m", "memory": "31235548Ki", "pods": "250"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "2026-11-30T08:12:44Z", "lastTransitionTime": "2026-11-01T00:00:00Z"}],
            "nodeInfo": {"kubeletVersion": "v1.33.2", "containerRuntimeVersion": "cri-o://1.33.2", "osImage": "Red Hat Enterprise Linux CoreOS", "kernelVersion": "5.14.0", "architecture": "amd64", "operatingSystem": "linux",
                "machineID": "m", "systemUUID": "s", "bootID": "b", "kubeProxyVersion": ""},
            "images": (0..20).map(|k| json!({"names": [format!("registry.example.com/image-{k}@sha256:{k:064}")], "sizeBytes": 100_000_000 + k})).collect::<Vec<_>>()
        }
    })
}

fn replica_set(i: usize) -> Value {
    let deployment = format!("deployment-{:05}", i / 5);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": rs_name(i), "namespace": ns(i / 5), "uid": format!("{i:08}-aaaa-bbbb-cccc-dddddddddddd"),
            "labels": {"app": deployment, "pod-template-hash": "5d4f8b7c"},
            "annotations": {"deployment.kubernetes.io/desired-replicas": "2", "deployment.kubernetes.io/revision": "3"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "uid": format!("d{i:07}"), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": managed_fields("kube-controller-manager")},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": deployment}}},
        "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}
    })
}

/// The cluster of `size` as API objects: nodes, ReplicaSets, services, then pods (no Jobs).
pub fn kube_cluster_json(size: ClusterSize) -> Vec<Value> {
    let mut objects =
        Vec::with_capacity(size.nodes + size.replica_sets + size.services + size.pods);
    objects.extend((0..size.nodes).map(node));
    objects.extend((0..size.replica_sets).map(replica_set));
    objects.extend((0..size.services).map(service));
    objects.extend((0..size.pods).map(|i| pod(i, &size)));
    objects
}
