terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

variable "bucket_url" {
  type        = string
  description = "UFile URL prefix that holds the build's disk images."
}

variable "build_id" {
  type        = string
  description = "Identifier of the build, used in image names."
}

# The base OS image.
resource "ucloud_custom_image" "base" {
  name      = "base-${var.build_id}"
  ufile_url = "${var.bucket_url}/base.qcow2"
  format    = "qcow2"
  os_type   = "Ubuntu"
  os_name   = "Ubuntu 22.04 64位"
  tag       = "golden"
}

# The application image, built on the base image; it records which base it
# came from, so it is imported after the base and replaced with it.
resource "ucloud_custom_image" "app" {
  name        = "app-${var.build_id}"
  ufile_url   = "${var.bucket_url}/app.qcow2"
  format      = "qcow2"
  os_type     = "Ubuntu"
  os_name     = "Ubuntu 22.04 64位"
  tag         = "golden"
  description = "app image on ${ucloud_custom_image.base.id}"
}

output "base_image_id" {
  value = ucloud_custom_image.base.id
}

output "app_image_id" {
  value = ucloud_custom_image.app.id
}
