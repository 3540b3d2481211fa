/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-chain-node.h"
#include "strata-node-actions.h"
#include "strata-node-text.h"
#include "strata-wizards.h"

struct _StrataChainNode
{
  GtkWidget          parent_instance;

  StrataLibraryNode *node;
  GtkWidget         *name_label;
  GtkWidget         *badges;
  GtkWidget         *summary_label;
  GtkWidget         *usage_bar;
  GtkWidget         *footer_label;
  GtkWidget         *locate_button;
  GtkWidget         *box;
  GtkWidget         *menu;
  guint              selected : 1;
  guint              busy : 1;
};

G_DEFINE_FINAL_TYPE (StrataChainNode, strata_chain_node, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_NODE,
  PROP_SELECTED,
  N_PROPS
};

enum {
  SIGNAL_SELECT_REQUEST,
  SIGNAL_LOCATE_REQUEST,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

GtkWidget *
strata_chain_node_new (StrataLibraryNode *node)
{
  return g_object_new (STRATA_TYPE_CHAIN_NODE, "node", node, NULL);
}

StrataLibraryNode *
strata_chain_node_get_node (StrataChainNode *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_NODE (self), NULL);
  return self->node;
}

gboolean
strata_chain_node_get_selected (StrataChainNode *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_NODE (self), FALSE);
  return self->selected;
}

static void
strata_chain_node_update_accessible (StrataChainNode *self)
{
  g_autofree char *label = strata_text_accessible (self->node, self->busy);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                  -1);
  gtk_accessible_update_state (GTK_ACCESSIBLE (self),
                               GTK_ACCESSIBLE_STATE_SELECTED, (gboolean) self->selected,
                               -1);
}

void
strata_chain_node_set_selected (StrataChainNode *self,
                                gboolean         selected)
{
  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  selected = !!selected;
  if (self->selected == selected)
    return;
  self->selected = selected;
  if (selected)
    gtk_widget_add_css_class (GTK_WIDGET (self), "selected");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "selected");
  strata_chain_node_update_accessible (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
}

void
strata_chain_node_set_busy (StrataChainNode *self,
                            gboolean         busy)
{
  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  busy = !!busy;
  if (self->busy == busy)
    return;
  self->busy = busy;
  strata_chain_node_update (self);
}

static void
add_badge (StrataChainNode *self,
           const char      *text,
           const char      *style,
           const char      *tooltip)
{
  GtkWidget *badge = gtk_label_new (text);

  gtk_widget_add_css_class (badge, "badge");
  gtk_widget_add_css_class (badge, style);
  gtk_widget_set_tooltip_text (badge, tooltip);
  gtk_box_append (GTK_BOX (self->badges), badge);
}

static void
clear_box (GtkWidget *box)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (box)) != NULL)
    gtk_box_remove (GTK_BOX (box), child);
}

void
strata_chain_node_update (StrataChainNode *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  StrataLibraryNode *node = self->node;
  StrataNodeKind kind = strata_library_node_get_kind (node);
  gboolean broken = strata_node_is_broken (node);
  g_autofree char *summary = strata_text_summary (node);
  guint n_overlays = strata_node_count_overlays (node);

  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  gtk_label_set_text (GTK_LABEL (self->name_label), strata_library_node_get_name (node));
  gtk_widget_set_tooltip_text (self->name_label, strata_library_node_get_path (node));
  gtk_label_set_text (GTK_LABEL (self->summary_label), summary);
  gtk_widget_set_tooltip_text (self->summary_label, strata_library_node_get_error (node));

  if (broken)
    gtk_widget_add_css_class (widget, "broken");
  else
    gtk_widget_remove_css_class (widget, "broken");
  if (kind == STRATA_NODE_EXTERNAL)
    gtk_widget_add_css_class (widget, "external");
  else
    gtk_widget_remove_css_class (widget, "external");

  clear_box (self->badges);
  if (self->busy)
    add_badge (self, _("working"), "accent", _("An operation is using this image"));
  if (strata_library_node_get_in_use (node))
    add_badge (self, _("in use"), "success", _("A running virtual machine holds this image"));
  if (strata_library_node_get_corrupt (node))
    add_badge (self, _("corrupt"), "error", _("The image is marked corrupt"));
  else if (strata_library_node_get_dirty (node))
    add_badge (self, _("dirty"), "warning", _("The image was not closed cleanly"));
  if (strata_node_is_writable_base (node))
    add_badge (self, _("writable"), "warning",
               _("Other images use this one as their base: writing to it would corrupt them"));
  else if (strata_library_node_get_protected (node))
    add_badge (self, _("read-only"), "dim", _("Protected: every write permission is off"));
  if (strata_library_node_get_compressed (node))
    add_badge (self, _("compressed"), "dim", _("Holds compressed clusters"));
  if (kind == STRATA_NODE_EXTERNAL)
    add_badge (self, _("external"), "dim", _("Outside the library folders"));
  gtk_widget_set_visible (self->badges, gtk_widget_get_first_child (self->badges) != NULL);

  if (!broken)
    {
      guint64 virtual_size = strata_library_node_get_virtual_size (node);
      guint64 allocated = strata_library_node_get_allocated_size (node);
      g_autofree char *disk = strata_text_disk_size (allocated);
      g_autoptr(GString) footer = g_string_new (NULL);
      double fraction = virtual_size > 0 ? (double) allocated / (double) virtual_size : 0.0;

      gtk_level_bar_set_value (GTK_LEVEL_BAR (self->usage_bar), CLAMP (fraction, 0.0, 1.0));
      /* Translators: e.g. "486.2 MB on disk". */
      g_string_append_printf (footer, _("%s on disk"), disk);
      if (n_overlays > 0)
        {
          g_string_append (footer, " · ");
          g_string_append_printf (footer,
                                  g_dngettext (GETTEXT_PACKAGE, "base of %u", "base of %u",
                                               n_overlays),
                                  n_overlays);
        }
      gtk_label_set_text (GTK_LABEL (self->footer_label), footer->str);
    }
  gtk_widget_set_visible (self->usage_bar, !broken);
  gtk_widget_set_visible (self->footer_label, !broken);
  gtk_widget_set_visible (self->locate_button,
                          kind == STRATA_NODE_MISSING && n_overlays > 0
                          && strata_wizard_is_available ("locate"));

  strata_chain_node_update_accessible (self);
}

static void
node_notify_cb (StrataChainNode *self)
{
  strata_chain_node_update (self);
}

void
strata_chain_node_popup_menu (StrataChainNode *self)
{
  g_autoptr(GMenuModel) model = NULL;

  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  g_signal_emit (self, signals[SIGNAL_SELECT_REQUEST], 0);
  model = strata_node_actions_menu (self->node);
  if (g_menu_model_get_n_items (model) == 0)
    return;
  if (self->menu == NULL)
    {
      self->menu = gtk_popover_menu_new_from_model (model);
      gtk_widget_set_parent (self->menu, GTK_WIDGET (self));
      gtk_popover_set_has_arrow (GTK_POPOVER (self->menu), FALSE);
      gtk_widget_set_halign (self->menu, GTK_ALIGN_START);
    }
  else
    gtk_popover_menu_set_menu_model (GTK_POPOVER_MENU (self->menu), model);
  gtk_popover_popup (GTK_POPOVER (self->menu));
}

static void
click_pressed_cb (GtkGestureClick *gesture,
                  int              n_press,
                  double           x,
                  double           y,
                  StrataChainNode *self)
{
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));

  gtk_widget_grab_focus (GTK_WIDGET (self));
  g_signal_emit (self, signals[SIGNAL_SELECT_REQUEST], 0);
  if (button == GDK_BUTTON_SECONDARY)
    {
      strata_chain_node_popup_menu (self);
      if (self->menu != NULL)
        gtk_popover_set_pointing_to (GTK_POPOVER (self->menu),
                                     &(GdkRectangle) { (int) x, (int) y, 1, 1 });
    }
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
}

/* The locate wizard repairs the overlays that point here: the first one is selected and
 * the wizard opened on it. */
static void
locate_clicked_cb (StrataChainNode *self)
{
  g_signal_emit (self, signals[SIGNAL_LOCATE_REQUEST], 0);
}

static void
menu_action_cb (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  strata_chain_node_popup_menu (STRATA_CHAIN_NODE (widget));
}

static GtkSizeRequestMode
strata_chain_node_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void
strata_chain_node_measure (GtkWidget      *widget,
                           GtkOrientation  orientation,
                           int             for_size,
                           int            *minimum,
                           int            *natural,
                           int            *minimum_baseline,
                           int            *natural_baseline)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (widget);

  gtk_widget_measure (self->box, orientation, for_size, minimum, natural, NULL, NULL);
}

/* The context menu is a popover of the node, so it needs allocating with it. */
static void
strata_chain_node_size_allocate (GtkWidget *widget,
                                 int        width,
                                 int        height,
                                 int        baseline)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (widget);

  gtk_widget_allocate (self->box, width, height, baseline, NULL);
  if (self->menu != NULL)
    gtk_popover_present (GTK_POPOVER (self->menu));
}

static void
strata_chain_node_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);

  switch (prop_id)
    {
    case PROP_NODE:
      self->node = g_value_dup_object (value);
      break;
    case PROP_SELECTED:
      strata_chain_node_set_selected (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_chain_node_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);

  switch (prop_id)
    {
    case PROP_NODE:
      g_value_set_object (value, self->node);
      break;
    case PROP_SELECTED:
      g_value_set_boolean (value, self->selected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_chain_node_constructed (GObject *object)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);

  G_OBJECT_CLASS (strata_chain_node_parent_class)->constructed (object);

  g_assert (self->node != NULL);
  g_signal_connect_object (self->node, "notify", G_CALLBACK (node_notify_cb), self,
                           G_CONNECT_SWAPPED);
  strata_chain_node_update (self);
}

static void
strata_chain_node_dispose (GObject *object)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);
  g_clear_pointer (&self->menu, gtk_widget_unparent);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  g_clear_object (&self->node);

  G_OBJECT_CLASS (strata_chain_node_parent_class)->dispose (object);
}

static void
strata_chain_node_class_init (StrataChainNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = strata_chain_node_constructed;
  object_class->dispose = strata_chain_node_dispose;
  object_class->get_property = strata_chain_node_get_property;
  object_class->set_property = strata_chain_node_set_property;
  widget_class->get_request_mode = strata_chain_node_get_request_mode;
  widget_class->measure = strata_chain_node_measure;
  widget_class->size_allocate = strata_chain_node_size_allocate;

  properties[PROP_NODE] =
    g_param_spec_object ("node", NULL, NULL, STRATA_TYPE_LIBRARY_NODE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SELECTED] =
    g_param_spec_boolean ("selected", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_SELECT_REQUEST] =
    g_signal_new ("select-request", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_LOCATE_REQUEST] =
    g_signal_new ("locate-request", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_install_action (widget_class, "node.menu", NULL, menu_action_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK,
                                       "node.menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Menu, 0, "node.menu", NULL);

  gtk_widget_class_set_css_name (widget_class, "chainnode");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_TREE_ITEM);
}

static void
strata_chain_node_init (StrataChainNode *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkWidget *header;
  GtkGesture *click;

  gtk_widget_set_focusable (widget, TRUE);
  self->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
  gtk_widget_set_parent (self->box, widget);

  header = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_box_append (GTK_BOX (self->box), header);
  self->name_label = g_object_new (GTK_TYPE_LABEL,
                                   "xalign", 0.0f,
                                   "hexpand", TRUE,
                                   "ellipsize", PANGO_ELLIPSIZE_MIDDLE,
                                   NULL);
  gtk_widget_add_css_class (self->name_label, "name");
  gtk_box_append (GTK_BOX (header), self->name_label);

  self->summary_label = g_object_new (GTK_TYPE_LABEL,
                                      "xalign", 0.0f,
                                      "ellipsize", PANGO_ELLIPSIZE_END,
                                      "lines", 2,
                                      "wrap", TRUE,
                                      NULL);
  gtk_widget_add_css_class (self->summary_label, "summary");
  gtk_box_append (GTK_BOX (self->box), self->summary_label);

  self->badges = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
  gtk_box_append (GTK_BOX (self->box), self->badges);

  self->usage_bar = gtk_level_bar_new_for_interval (0.0, 1.0);
  gtk_level_bar_remove_offset_value (GTK_LEVEL_BAR (self->usage_bar), GTK_LEVEL_BAR_OFFSET_LOW);
  gtk_level_bar_remove_offset_value (GTK_LEVEL_BAR (self->usage_bar),
                                     GTK_LEVEL_BAR_OFFSET_HIGH);
  gtk_level_bar_remove_offset_value (GTK_LEVEL_BAR (self->usage_bar),
                                     GTK_LEVEL_BAR_OFFSET_FULL);
  gtk_widget_set_margin_top (self->usage_bar, 4);
  gtk_box_append (GTK_BOX (self->box), self->usage_bar);

  self->footer_label = g_object_new (GTK_TYPE_LABEL,
                                     "xalign", 0.0f,
                                     "ellipsize", PANGO_ELLIPSIZE_END,
                                     NULL);
  gtk_widget_add_css_class (self->footer_label, "footer");
  gtk_box_append (GTK_BOX (self->box), self->footer_label);

  self->locate_button = gtk_button_new_with_mnemonic (_("_Locate…"));
  gtk_widget_set_halign (self->locate_button, GTK_ALIGN_START);
  gtk_widget_add_css_class (self->locate_button, "flat");
  gtk_widget_add_css_class (self->locate_button, "locate");
  g_signal_connect_swapped (self->locate_button, "clicked",
                            G_CALLBACK (locate_clicked_cb), self);
  gtk_box_append (GTK_BOX (self->box), self->locate_button);

  click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), 0);
  g_signal_connect (click, "pressed", G_CALLBACK (click_pressed_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (click));
}
