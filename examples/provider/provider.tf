terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

# Credentials may also come from UCLOUD_PUBLIC_KEY / UCLOUD_PRIVATE_KEY or from
# the profile files the UCloud CLI writes (~/.ucloud/credential.json).
provider "ucloud" {
  public_key  = var.ucloud_public_key
  private_key = var.ucloud_private_key
  region      = "cn-bj2"
  project_id  = "org-example"
}

variable "ucloud_public_key" {
  type = string
}

variable "ucloud_private_key" {
  type      = string
  sensitive = true
}
