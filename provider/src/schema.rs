//! Small constructors for tf-provider schema types, so that schema fragments read like the
//! Terraform documentation they become.

use std::collections::HashMap;

use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, NestedBlock,
};

/// An attribute that the user must set.
pub fn required(attr_type: AttributeType, description: &str) -> Attribute {
    attribute(attr_type, AttributeConstraint::Required, description)
}

/// An attribute that the user may set; null when unset.
pub fn optional(attr_type: AttributeType, description: &str) -> Attribute {
    attribute(attr_type, AttributeConstraint::Optional, description)
}

/// An attribute that the user may set; the provider fills in its default when unset.
pub fn defaulted(attr_type: AttributeType, description: &str) -> Attribute {
    attribute(
        attr_type,
        AttributeConstraint::OptionalComputed,
        description,
    )
}

/// An attribute only the provider sets.
pub fn computed(attr_type: AttributeType, description: &str) -> Attribute {
    attribute(attr_type, AttributeConstraint::Computed, description)
}

fn attribute(
    attr_type: AttributeType,
    constraint: AttributeConstraint,
    description: &str,
) -> Attribute {
    Attribute {
        attr_type,
        description: Description::markdown(description),
        constraint,
        sensitive: false,
        deprecated: false,
    }
}

/// A block that may be omitted: absent means "all defaults" (Terraform's NestingGroup), so the
/// provider can still report computed attributes inside it.
pub fn group(description: &str, attributes: Vec<(&str, Attribute)>) -> NestedBlock {
    NestedBlock::Group(block(description, attributes))
}

/// A block body.
pub fn block(description: &str, attributes: Vec<(&str, Attribute)>) -> Block {
    Block {
        version: 0,
        attributes: attributes
            .into_iter()
            .map(|(name, attr)| (name.to_string(), attr))
            .collect::<HashMap<_, _>>(),
        blocks: HashMap::new(),
        description: Description::markdown(description),
        deprecated: false,
    }
}

/// The same attribute, marked sensitive: Terraform never shows its value.
pub fn sensitive(mut attribute: Attribute) -> Attribute {
    attribute.sensitive = true;
    attribute
}

/// `list(string)`
pub fn string_list() -> AttributeType {
    AttributeType::List(Box::new(AttributeType::String))
}

/// `map(string)`
pub fn string_map() -> AttributeType {
    AttributeType::Map(Box::new(AttributeType::String))
}
