//! DMS: the replication subnet group, the replication instance, the MySQL source and Kinesis
//! target endpoints, and the replication task that carries the source's changes into the
//! stream. One module per resource, each with its finders, create/update/delete and waiters:
//!
//! 1. [`subnet_group`], [`instance`], [`endpoint`], [`task`]: the resources, in the order a
//!    pipeline's source makes them;
//! 2. [`documents`]: the task's JSON documents, compared the way DMS stores them;
//! 3. [`common`]: what they share (errors, filters, tags, identifier rules).
//!
//! DMS resources settle asynchronously (instances creating → available, tasks creating → ready,
//! starting → running, stopping → stopped), and a task must be stopped before it — or an
//! endpoint it uses — can change, so every such change stops what runs, changes, waits, and
//! resumes what ran. DMS answers a lookup that matches nothing with `ResourceNotFoundFault`,
//! which [`crate::aws::found`] does not know: [`common`] has its own `found` and `gone`.

mod common;
mod documents;
mod endpoint;
mod instance;
mod subnet_group;
mod task;

pub use common::{check_identifier, check_instance_identifier};
pub use documents::{json_equal, normalize_json, project_settings, settings_match};
pub use endpoint::{
    create_endpoint, delete_endpoint, describe_endpoint_by_id, endpoint_differs,
    find_endpoint_by_id, update_endpoint, Endpoint, EndpointKind, EndpointSpec, KinesisTarget,
    MySqlSource,
};
pub use instance::{
    create_instance, delete_instance, describe_instance_by_id, find_instance_by_id,
    instance_needs_replacement, update_instance, Instance, InstanceSpec,
};
pub use subnet_group::{
    create_subnet_group, delete_subnet_group, find_subnet_group, find_subnet_group_by_id,
    update_subnet_group, SubnetGroupSpec,
};
pub use task::{
    create_task, delete_task, describe_task_by_id, find_task_by_id, find_tasks_by_instance,
    task_needs_replacement, update_task, Task, TaskSpec,
};
