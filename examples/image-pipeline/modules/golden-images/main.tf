terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

variable "image_dir" {
  type        = string
  description = "The local directory the build left its disk images in (base.qcow2, app.qcow2)."
}

variable "bucket" {
  type        = string
  description = "The UFile bucket the images are staged in for the import."
}

variable "build_id" {
  type        = string
  description = "Identifier of the build, used in image names."
}

# The base OS image.
resource "ucloud_custom_image" "base" {
  name    = "base-${var.build_id}"
  format  = "qcow2"
  os_type = "Ubuntu"
  os_name = "Ubuntu 22.04 64位"
  tag     = "golden"

  source {
    path   = "${var.image_dir}/base.qcow2"
    bucket = var.bucket
  }
}

# The application image, built on the base image; it records which base it
# came from, so it is imported after the base and replaced with it.
resource "ucloud_custom_image" "app" {
  name        = "app-${var.build_id}"
  format      = "qcow2"
  os_type     = "Ubuntu"
  os_name     = "Ubuntu 22.04 64位"
  tag         = "golden"
  description = "app image on ${ucloud_custom_image.base.id}"

  source {
    path   = "${var.image_dir}/app.qcow2"
    bucket = var.bucket
  }
}

output "base_image_id" {
  value = ucloud_custom_image.base.id
}

output "app_image_id" {
  value = ucloud_custom_image.app.id
}
